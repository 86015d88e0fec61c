# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Idempotent, incremental NVFLARE provisioning through the in-process lighter API.

Workspace layout (NVFLARE's own, plus two entries of ours)::

    <workspace>/<project>/state/cert.json               NVFLARE: root CA key + every participant key (0600)
    <workspace>/<project>/state/edgefl_provision.json   ours: fingerprints of what each kit was built from (0600)
    <workspace>/<project>/prod_NN/<name>/               NVFLARE: kits, one prod_NN per run that built something
    <workspace>/<project>/kits/<name> -> ../prod_NN/<name>   ours: stable path to the current kit

A run compares the wanted participants with the recorded fingerprints and builds only
what differs (added participants, changed participants, missing kits; every kit when a
federation-wide setting changed). NVFLARE's CertBuilder reuses every key recorded in
cert.json, so existing certificates, keys and kits stay byte-identical.

With relays, some kits also depend on other participants (kit_links() in _provision_spec: the
auth_identity_map in the server's and every client's kit, a relay's parent endpoint, a client's
relay endpoint). Their fingerprint is recorded as ``links_fp``; a kit is rebuilt, with its key
kept, when it changes. NVFLARE then gets every relay and every client behind one (so those maps come
out whole) and the copies of kits that did not need rebuilding are dropped from the new prod_NN.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import shutil
import stat
import sys

from ansible_collections.edgefl.nvflare.plugins.module_utils._base import ModuleError
from ansible_collections.edgefl.nvflare.plugins.module_utils._provision_spec import (
    SpecError,
    connect_name,
    is_incremental,
    kit_links,
    root_valid_days,
    validate_with_nvflare,
)

STATE_FILE = "edgefl_provision.json"
STATE_VERSION = 1
CERT_FILE = "cert.json"
TYPE_ORDER = {"server": 0, "relay": 1, "client": 2, "admin": 3}


def _dist_info_version(name):
    """Version from the package's sibling <name>-<version>.dist-info directory (no metadata scan)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return None
    site = os.path.dirname(os.path.dirname(spec.origin))
    found = [d for d in os.listdir(site) if d.startswith(name + "-") and d.endswith(".dist-info")]
    if len(found) != 1:
        return None
    return found[0][len(name) + 1:-len(".dist-info")]


def installed_nvflare_version(wanted=None):
    """Version of nvflare importable here, without importing it (fast). Fails with the fix."""
    fix = "pip install nvflare==%s on the control node (into %s)" % (wanted or "<version>", sys.executable)
    found = _dist_info_version("nvflare")
    if found is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("nvflare")
        except PackageNotFoundError:
            raise ModuleError("nvflare is not installed for the Python that runs Ansible on the control node (%s): %s"
                              % (sys.executable, fix), field="nvflare_version")
    if wanted and found != wanted:
        raise ModuleError("nvflare %s is installed on the control node but nvflare_version is %s: %s"
                          % (found, wanted, fix), field="nvflare_version")
    return found


def _fp(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def _cert_spec(p):
    """What NVFLARE puts in a participant's certificate (a change needs a new key pair)."""
    spec = {"name": p["name"], "type": p["type"], "org": p["org"]}
    if p["type"] == "admin":
        spec["role"] = p.get("role")
    if p["type"] == "server":
        spec["default_host"] = p.get("default_host")
        spec["host_names"] = p.get("host_names")
    return spec


def _global_spec(project, nvflare_version, incremental):
    """Settings every kit depends on (validity of a new root CA is checked separately)."""
    builders = copy.deepcopy(project.get("builders") or [])
    for b in builders:
        if isinstance(b, dict) and str(b.get("path", "")).endswith("CertBuilder") and b.get("args"):
            b["args"].pop("root_valid_days", None)
    spec = {k: v for k, v in project.items() if k not in ("participants", "builders", "description")}
    spec["builders"] = builders
    spec["nvflare_version"] = nvflare_version
    # host_names only reach the server's own certificate (its own fingerprint covers them)
    server = dict([p for p in project["participants"] if p["type"] == "server"][0])
    server.pop("host_names", None)
    spec["server"] = server
    if not incremental:
        spec["participants"] = project["participants"]
    return spec


def _describe(p, host=None):
    d = {"name": p["name"], "type": p["type"], "org": p["org"]}
    if p.get("role"):
        d["role"] = p["role"]
    if p["type"] == "server":
        for k in ("fed_learn_port", "admin_port", "default_host", "host_names", "connection_security"):
            if p.get(k) is not None:
                d[k] = p[k]
    if p["type"] == "relay" and isinstance(p.get("listening_host"), dict):
        lh = p["listening_host"]
        for k in ("default_host", "port", "host_names"):
            if lh.get(k) is not None:
                d[k] = lh[k]
    if connect_name(p):
        d["connect_to"] = connect_name(p)
    if host:
        d["host"] = host
    return d


def _line(d):
    extra = " ".join("%s=%s" % (k, d[k]) for k in sorted(d) if k not in ("name", "type"))
    return "%-6s %s %s" % (d["type"], d["name"], extra)


def _changed_keys(old, new, prefix=""):
    keys = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            keys.extend(_changed_keys(a, b, prefix + k + "."))
        else:
            keys.append(prefix + k)
    return keys


class _Collector:
    """Logger for Provisioner: keeps NVFLARE's messages out of the module's JSON output."""

    def __init__(self):
        self.messages = []

    def _add(self, level, msg):
        self.messages.append("%s: %s" % (level, msg))

    def info(self, msg):
        self._add("INFO", msg)

    def debug(self, msg):
        self._add("DEBUG", msg)

    def warning(self, msg):
        self._add("WARNING", msg)

    def error(self, msg):
        self._add("ERROR", msg)


class Layout:
    def __init__(self, workspace, project_name):
        self.workspace = os.path.abspath(os.path.expanduser(workspace))
        self.project_dir = os.path.join(self.workspace, project_name)
        self.state_dir = os.path.join(self.project_dir, "state")
        self.cert_file = os.path.join(self.state_dir, CERT_FILE)
        self.state_file = os.path.join(self.state_dir, STATE_FILE)
        self.kits_dir = os.path.join(self.project_dir, "kits")

    def kit(self, name):
        return os.path.join(self.kits_dir, name)

    def kit_present(self, name):
        return os.path.isdir(os.path.join(self.kit(name), "startup"))

    def prod_dirs(self):
        try:
            names = os.listdir(self.project_dir)
        except OSError:
            return []
        return sorted(n for n in names if n.startswith("prod_") and n[5:].isdigit())


def _corrupt(path, what):
    return ModuleError(
        "the provisioning workspace state is corrupt: %s %s. It holds the root CA key: restore it from a backup, "
        "or provision into a new, empty workspace (all kits get new keys)" % (path, what), field="workspace")


def _read_json(path):
    """The parsed JSON file; ModuleError (corrupt workspace) when it cannot be read or parsed."""
    try:
        with open(path, "r") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise _corrupt(path, "cannot be read as JSON (%s)" % type(exc).__name__)


def load_state(layout):
    """(edgefl state or None, cert.json subjects or None); raise ModuleError when corrupt."""
    cert_subjects = None
    if os.path.exists(layout.cert_file):
        content = _read_json(layout.cert_file)
        if not isinstance(content, dict) or not isinstance(content.get("root_cert"), str) \
                or not isinstance(content.get("root_pri_key"), str):
            raise _corrupt(layout.cert_file, "has no root CA certificate/key")
        cert_subjects = set(k for k, v in content.items() if isinstance(v, dict))
        del content
    state = None
    if os.path.exists(layout.state_file):
        state = _read_json(layout.state_file)
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION \
                or not isinstance(state.get("participants"), dict) or not isinstance(state.get("global"), dict):
            raise _corrupt(layout.state_file, "has an unknown format")
        if cert_subjects is None:
            raise _corrupt(layout.cert_file, "is missing while %s records provisioned kits" % STATE_FILE)
        missing = sorted(n for n in state["participants"] if n not in cert_subjects)
        if missing:
            raise _corrupt(layout.cert_file, "has no certificate for %s" % ", ".join(missing[:5]))
    return state, cert_subjects


def _existing_root_days(layout):
    from cryptography import x509

    with open(layout.cert_file, "r") as f:
        pem = json.load(f)["root_cert"].encode("ascii")
    cert = x509.load_pem_x509_certificate(pem)
    delta = cert.not_valid_after_utc - cert.not_valid_before_utc
    return delta.total_seconds() / 86400.0


def _mode_fixes(layout):
    fixes = []
    for path, want in ((layout.project_dir, 0o700), (layout.state_dir, 0o700), (layout.cert_file, 0o600),
                       (layout.state_file, 0o600)):
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            continue
        if mode != want:
            fixes.append((path, want))
    return fixes


class Plan:
    """What a run would do; computed without writing anything."""

    def __init__(self, project, labels, hosts, layout, nvflare_version, force):
        self.project = project
        self.labels = labels
        self.hosts = hosts
        self.layout = layout
        self.nvflare_version = nvflare_version
        self.incremental = is_incremental(project)
        self.root_valid_days = root_valid_days(project)
        self.server = [p for p in project["participants"] if p["type"] == "server"][0]
        self.wanted = {p["name"]: p for p in project["participants"]}
        self.links = kit_links(project)
        self.global_spec = _global_spec(project, nvflare_version, self.incremental)
        self.state, self.cert_subjects = load_state(layout)
        recorded = (self.state or {}).get("participants", {})
        self.recorded = recorded
        self.reasons = {}
        self.regenerate = []
        global_changes = []
        if self.state is not None:
            if self.state.get("root_valid_days") != self.root_valid_days:
                raise SpecError(
                    "cert_validity_days", "the root CA of this workspace was created with %s days of validity, "
                    "the setting only applies when a new root CA is made: set it back to %s, or provision into a "
                    "new workspace" % (self.state.get("root_valid_days"), self.state.get("root_valid_days")))
            global_changes = _changed_keys(self.state["global"], json.loads(json.dumps(self.global_spec)))
        elif self.cert_subjects is not None:
            days = _existing_root_days(layout)
            if abs(days - self.root_valid_days) > 1e-6:
                raise SpecError(
                    "cert_validity_days", "the existing root CA in %s is valid for %g days, which only a new root "
                    "CA could change: set %g, or provision into a new workspace" % (layout.cert_file, days, days))
        self.global_changes = global_changes
        for name, p in self.wanted.items():
            rec = recorded.get(name)
            if rec is None:
                self.reasons[name] = "added"
                if self.cert_subjects and name in self.cert_subjects and self.state is not None:
                    # a participant removed earlier and now back: NVFLARE reuses its old key unless the
                    # certificate content differs
                    old = self.state.get("removed", {}).get(name)
                    if old and old != _fp(_cert_spec(p)):
                        self.regenerate.append(name)
                continue
            why = []
            if rec.get("fp") != _fp(p):
                why.append("definition changed")
                if rec.get("cert_fp") != _fp(_cert_spec(p)):
                    self.regenerate.append(name)
            elif rec.get("links_fp") != self.links_fp(name):
                why.append("relay routes changed")
            if global_changes:
                why.append("federation settings changed: %s" % ", ".join(global_changes))
            if not layout.kit_present(name):
                why.append("kit missing")
            if force:
                why.append("force")
            if why:
                self.reasons[name] = "; ".join(why)
        self.added = sorted(n for n in self.wanted if n not in recorded)
        self.removed = sorted(n for n in recorded if n not in self.wanted)
        self.changed_participants = sorted(n for n in self.reasons if n in recorded)
        self.to_build = [n for n in self.wanted if n in self.reasons]
        if self.to_build and not self.incremental:
            self.to_build = list(self.wanted)
        self.mode_fixes = _mode_fixes(layout)

    def links_fp(self, name):
        """Fingerprint of what the kit takes from other participants; None when nothing (flat projects)."""
        links = self.links.get(name)
        return _fp(links) if links else None

    @property
    def changed(self):
        return bool(self.to_build or self.removed or self.mode_fixes)

    def participants(self):
        out = [_describe(p, self.hosts.get(n)) for n, p in self.wanted.items()]
        return sorted(out, key=lambda d: (TYPE_ORDER.get(d["type"], 9), d["name"]))

    def diff(self):
        before = [rec.get("desc") or {"name": n, "type": rec.get("type", "?"), "org": "?"}
                  for n, rec in sorted(self.recorded.items())]
        before.sort(key=lambda d: (TYPE_ORDER.get(d["type"], 9), d["name"]))
        lines_before = "".join(_line(d) + "\n" for d in before)
        lines_after = "".join(_line(d) + "\n" for d in self.participants())
        return lines_before, lines_after

    def next_prod_dir(self):
        prods = self.layout.prod_dirs()
        nxt = int(prods[-1][5:]) + 1 if prods else 0
        return os.path.join(self.layout.project_dir, "prod_%02d" % nxt)

    def current_result_dir(self):
        prods = [rec.get("prod") for n, rec in self.recorded.items() if n in self.wanted and rec.get("prod")]
        return os.path.join(self.layout.project_dir, max(prods)) if prods else None


def check_names(plan):
    """NVFLARE's own validation; needed only when the spec differs from what it already accepted."""
    if plan.to_build or plan.state is None:
        validate_with_nvflare(plan.project, plan.labels)


def _write_json_0600(path, data):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, sort_keys=True, indent=1)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _link_kit(layout, name, prod):
    link = layout.kit(name)
    tmp = os.path.join(layout.kits_dir, ".%s.tmp" % name)
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.join("..", prod, name), tmp)
    if os.path.isdir(link) and not os.path.islink(link):
        shutil.rmtree(link)
    os.replace(tmp, link)


def _lock_modes(layout):
    for path, mode in ((layout.project_dir, 0o700), (layout.state_dir, 0o700), (layout.cert_file, 0o600)):
        if os.path.exists(path):
            os.chmod(path, mode)
    for name in os.listdir(layout.state_dir):
        p = os.path.join(layout.state_dir, name)
        if os.path.isfile(p):
            os.chmod(p, 0o600)


def _run_nvflare(plan, names):
    """Provision ``names`` (plus the server NVFLARE always needs) into a new prod_NN; return its path."""
    from nvflare.lighter.constants import CtxKey
    from nvflare.lighter.prov_utils import prepare_builders, prepare_packager
    from nvflare.lighter.provision import prepare_project
    from nvflare.lighter.provisioner import Provisioner

    server_name = plan.server["name"]
    parts = [copy.deepcopy(plan.wanted[server_name])]
    if plan.links:
        # relays: every relay and every client behind one, so the relay hierarchy and the identity maps are
        # whole (clients that connect to the server add nothing to them)
        relays = set(n for n, p in plan.wanted.items() if p["type"] == "relay")
        parts += [copy.deepcopy(p) for n, p in plan.wanted.items()
                  if n != server_name and (n in names or n in relays or connect_name(p) in relays)]
    else:
        parts += [copy.deepcopy(plan.wanted[n]) for n in names if n != server_name]
    project_dict = copy.deepcopy({k: v for k, v in plan.project.items() if k != "participants"})
    project_dict["participants"] = parts
    logger = _Collector()
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            project = prepare_project(project_dict)
            builders = prepare_builders(project_dict)
            packager = prepare_packager(project_dict)
            ctx = Provisioner(plan.layout.workspace, builders, packager).provision(project, logger=logger)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise ModuleError("NVFLARE provisioning failed: %s" % exc, messages=logger.messages)
    # Provisioner swallows builder exceptions: it deletes the partial prod_NN, logs and sets a flag.
    errors = [m for m in logger.messages if m.startswith("ERROR")]
    result = ctx.get_result_location()
    if ctx.get(CtxKey.BUILD_ERROR) or errors:
        raise ModuleError("NVFLARE provisioning failed: %s" % ("; ".join(errors) or "a builder raised an error"),
                          messages=logger.messages)
    if not result:
        raise ModuleError(
            "NVFLARE wrote no prod_NN directory: %s has reached prod_99, NVFLARE's limit. Remove prod_NN "
            "directories no kits/ link points to, or provision into a new workspace" % plan.layout.project_dir,
            field="workspace", messages=logger.messages)
    return result


def apply(plan):
    """Carry the plan out. Returns the prod_NN directory written (or None)."""
    layout = plan.layout
    if not os.path.isdir(layout.workspace):
        os.makedirs(layout.workspace, mode=0o700)
    if not os.path.isdir(layout.project_dir):
        os.makedirs(layout.project_dir, mode=0o700)
    os.chmod(layout.project_dir, 0o700)
    prod = None
    built_prod = {}
    if plan.to_build:
        backup = None
        if os.path.exists(layout.cert_file):
            with open(layout.cert_file, "rb") as f:
                backup = f.read()
        try:
            if plan.regenerate and backup is not None:
                content = json.loads(backup.decode("utf-8"))
                for name in plan.regenerate:
                    content.pop(name, None)
                _write_json_0600(layout.cert_file, content)
            prod = _run_nvflare(plan, plan.to_build)
        except BaseException:
            if backup is not None:
                fd = os.open(layout.cert_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(backup)
            raise
        finally:
            if os.path.isdir(layout.state_dir):
                _lock_modes(layout)
        prod_name = os.path.basename(prod)
        for name in plan.wanted:
            if name not in plan.to_build:
                # NVFLARE always builds the server (and, with relays, every relay and client); their current
                # kits are unchanged: drop the extra copies (and keys)
                shutil.rmtree(os.path.join(prod, name), ignore_errors=True)
        if not os.path.isdir(layout.kits_dir):
            os.makedirs(layout.kits_dir, mode=0o700)
        for name in plan.to_build:
            _link_kit(layout, name, prod_name)
            built_prod[name] = prod_name
    for name in plan.removed:
        if os.path.islink(layout.kit(name)):
            os.unlink(layout.kit(name))
    for path, mode in plan.mode_fixes:
        if os.path.exists(path):
            os.chmod(path, mode)
    if plan.changed or plan.state is None:
        removed_map = dict((plan.state or {}).get("removed", {}))
        for name in plan.removed:
            removed_map[name] = plan.recorded[name].get("cert_fp")
        participants = {}
        for name, p in plan.wanted.items():
            removed_map.pop(name, None)
            rec = plan.recorded.get(name, {})
            participants[name] = {
                "type": p["type"],
                "fp": _fp(p),
                "cert_fp": _fp(_cert_spec(p)),
                "prod": built_prod.get(name, rec.get("prod")),
                "desc": _describe(p, plan.hosts.get(name)),
            }
            if plan.links_fp(name):
                participants[name]["links_fp"] = plan.links_fp(name)
        state = {
            "version": STATE_VERSION,
            "nvflare_version": plan.nvflare_version,
            "root_valid_days": plan.root_valid_days,
            "incremental": plan.incremental,
            "global": plan.global_spec,
            "participants": participants,
            "removed": removed_map,
        }
        _write_json_0600(layout.state_file, state)
    return prod
