# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Idempotent, incremental NVFLARE provisioning through the in-process lighter API.

Workspace layout (NVFLARE's own, plus entries of ours)::

    <workspace>/<project>/state/cert.json               NVFLARE: root CA key + every participant key (0600)
    <workspace>/<project>/state/edgefl_provision.json   ours: fingerprints of what each kit was built from (0600)
    <workspace>/<project>/state/edgefl_provision.lock   ours: the workspace lock (flock) and who holds it
    <workspace>/<project>/state/retired/<UTC time>/     ours: root CAs replaced by rotate_ca (0600, never deleted)
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

Concurrency and crashes
-----------------------
* Every run (check mode included) takes an exclusive ``flock`` on ``state/edgefl_provision.lock`` before
  it reads the state, and writes its holder (pid, host, user, start time, play) into that file. A second
  run waits up to ``lock_timeout`` seconds, warning once with the holder, then fails naming it. The kernel
  drops the lock when its holder dies (kill -9 included), so a stale lock file never blocks. Check mode on a
  workspace that does not exist yet takes no lock: there is nothing to read or protect, and check mode
  writes nothing. backup.yml and restore.yml take the same lock with flock(1).
* NVFLARE never writes into the workspace: it runs against a private staging copy
  (``<project>/.staging/<project>/state/cert.json``, a copy of ours) and its output is moved in with
  renames. So NVFLARE's own non-atomic write of cert.json only ever touches the copy. Then, in this
  order: the new prod_NN tree is fsynced; removals are recorded in the state; the old root CA is retired
  (rotate_ca); cert.json is replaced (temp file + fsync + rename + fsync of the directory); the prod_NN
  directory is renamed into the project; each ``kits/<name>`` link is replaced by a renamed temp link; the
  kits directory is fsynced; last, the state file is replaced atomically.
* Every step is redone by the next run when a kill stops a run between two of them: the state is written
  last, so participants it does not know are built again (with the keys cert.json already has), and every
  run compares each current kit with cert.json (its certificate and its rootCA.pem): a kit whose
  certificate is not the one recorded (an interrupted renew or rotate_ca) is rebuilt. Unreferenced prod_NN
  directories left by a kill stay (old files are never deleted) and a leftover ``.staging`` or temp file is
  removed. ``corrupt`` is reported only for states no run of this module writes (unparsable JSON, no root
  CA, state naming a participant cert.json has no key for), with the way back through backup.yml's archive.

Membership
----------
A recorded participant that is no longer wanted (or is named in ``remove``) is removed: the state
records it as removed first, then its key leaves cert.json and its private keys are deleted from every
prod_NN copy and its kits/ link. Names recorded as removed are checked every run (a key still in cert.json or
in a kit is deleted again), and may only come back through ``allow_readd``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import errno
import fcntl
import json
import os
import shutil
import socket
import stat
import sys
import time

from ansible_collections.edgefl.nvflare.plugins.module_utils import _flare_compat as compat
from ansible_collections.edgefl.nvflare.plugins.module_utils._base import ModuleError
from ansible_collections.edgefl.nvflare.plugins.module_utils._files import (
    atomic_write,
    fingerprint,
    fsync_dir,
    read_bytes,
    user_name,
)
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
LOCK_FILE = "edgefl_provision.lock"
STAGING_DIR = ".staging"
RETIRED_DIR = "retired"
TYPE_ORDER = {"server": 0, "relay": 1, "client": 2, "admin": 3}
DEFAULT_CA_VALIDITY_DAYS = 3650
DEFAULT_CERT_VALIDITY_DAYS = 365
DEFAULT_LOCK_TIMEOUT = 600
# a run that removes more participants than this (by their absence from the wanted list) must name them in remove
REMOVE_LIMIT = 3


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _iso(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- atomic writes


def atomic_write_json(path, data, mode=0o600):
    atomic_write(path, json.dumps(data, sort_keys=True, indent=1).encode("utf-8"), mode)


def atomic_symlink(target, link, sync=True):
    """Point ``link`` at ``target`` with one rename (never a moment without the link)."""
    directory = os.path.dirname(link)
    tmp = os.path.join(directory, ".%s.%d.tmp" % (os.path.basename(link), os.getpid()))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    if os.path.isdir(link) and not os.path.islink(link):
        shutil.rmtree(link)
    os.replace(tmp, link)
    if sync:
        fsync_dir(directory)


def _fsync_tree(root):
    for dirpath, _dirs, files in os.walk(root):
        for fn in files:
            full = os.path.join(dirpath, fn)
            if os.path.islink(full):
                continue
            fd = os.open(full, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


def _temp_files(directory):
    """Temp files a killed run left (ours end in .tmp and start with a dot; cert.json.tmp from older versions)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    out = []
    for name in sorted(names):
        if name.endswith(".tmp") and (name.startswith(".") or name == CERT_FILE + ".tmp"):
            full = os.path.join(directory, name)
            if os.path.islink(full) or os.path.isfile(full):
                out.append(full)
    return out


def _remove_temp_files(directory):
    for path in _temp_files(directory):
        os.unlink(path)


# ---------------------------------------------------------------- the workspace lock


def _holder_text(info):
    if not info:
        return "another run (no holder recorded)"
    return "pid %s of %s on %s since %s%s" % (
        info.get("pid", "?"), info.get("user", "?"), info.get("host", "?"), info.get("started", "?"),
        (", play %r" % info["play"]) if info.get("play") else "")


def read_lock_holder(path):
    """The holder recorded in the lock file (a dict), or None."""
    try:
        with open(path, "r") as f:
            text = f.read()
    except OSError:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return {"raw": text.strip()[:200]} if text.strip() else None
    return info if isinstance(info, dict) else None


class WorkspaceLock:
    """Exclusive flock on ``state/edgefl_provision.lock``; the holder's identity is written into the file.

    ``create``: make the state directory (0700) when missing; without it a missing state directory
    means no lock is taken (check mode on a fresh workspace). ``notify(msg)`` is called once when the
    run has to wait. The kernel releases the lock when the holder exits or is killed.
    """

    def __init__(self, layout, timeout=DEFAULT_LOCK_TIMEOUT, play=None, create=True, notify=None, poll=0.2):
        self.layout = layout
        self.path = os.path.join(layout.state_dir, LOCK_FILE)
        self.timeout = timeout
        self.play = play
        self.create = create
        self.notify = notify
        self.poll = poll
        self.fd = None
        self.waited = 0.0
        self.created_dirs = []

    def _make_dirs(self):
        missing = []
        path = self.layout.state_dir
        while not os.path.isdir(path):
            missing.append(path)
            path = os.path.dirname(path)
        for path in reversed(missing):
            os.mkdir(path, 0o700)
            self.created_dirs.append(path)

    def acquire(self):
        if not os.path.isdir(self.layout.state_dir):
            if not self.create:
                return self
            self._make_dirs()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            if self.create or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            return self  # check mode on a workspace this user may only read: nothing is written either way
        start = time.monotonic()
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            holder = _holder_text(read_lock_holder(self.path))
            waited = time.monotonic() - start
            if waited >= self.timeout:
                os.close(fd)
                raise ModuleError(
                    "the provisioning workspace %s is locked by another run: %s. Waited %d s (lock_timeout, "
                    "nvflare_provision_lock_timeout). Let that run finish and run again, or raise the timeout. The "
                    "lock is released when its holder exits, so only a live process holds it"
                    % (self.layout.project_dir, holder, int(waited)), field="lock_timeout", holder=holder)
            if not told and self.notify:
                self.notify("the provisioning workspace %s is locked by %s; waiting up to %d s"
                            % (self.layout.project_dir, holder, self.timeout))
                told = True
            time.sleep(self.poll)
        self.waited = time.monotonic() - start
        self.fd = fd
        info = {"pid": os.getpid(), "host": socket.gethostname(), "user": user_name(), "started": _iso(_utcnow())}
        if self.play:
            info["play"] = self.play
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info, sort_keys=True).encode("utf-8"), 0)
        return self

    def release(self):
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def drop_created_dirs(self):
        """Undo the directories acquire() made (a run that failed before writing anything)."""
        if os.path.exists(self.path) and self.created_dirs:
            os.unlink(self.path)
        for path in reversed(self.created_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(path)
        self.created_dirs = []

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


def _dist_info_version(name):
    """Version from the package's sibling <name>-<version>.dist-info directory (no metadata scan)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return None
    return _dist_info_in([os.path.dirname(os.path.dirname(spec.origin))], name)


def _dist_info_in(sites, name):
    """Version from the one <name>-<version>.dist-info directory in the site directories SITES; None when there is
    none or more than one."""
    found = [d for site in sites for d in os.listdir(site) if d.startswith(name + "-") and d.endswith(".dist-info")]
    if len(found) != 1:
        return None
    return found[0][len(name) + 1:-len(".dist-info")]


def control_fix(version, python):
    """How to give the control node nvflare VERSION (PYTHON: the Python it has now)."""
    ver = version or "<version>"
    return ("give the provisioning a Python with nvflare %s: scripts/nvflare-venv.sh %s creates one under "
            "~/.cache/edgefl/nv-%s (or: python3 -m venv DIR && DIR/bin/pip install nvflare==%s netaddr), then run "
            "with -e nvflare_control_python=~/.cache/edgefl/nv-%s/bin/python; or pip install nvflare==%s into %s"
            % (ver, ver, ver, ver, ver, ver, python))


def installed_nvflare_version(wanted=None):
    """Version of nvflare importable here, without importing it (fast). Fails with the fix."""
    fix = control_fix(wanted, sys.executable)
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


_VERSION_SCRIPT = """
try:
    from importlib.metadata import version, PackageNotFoundError
except ImportError:
    import pkg_resources
    try:
        print(pkg_resources.get_distribution("nvflare").version)
    except pkg_resources.DistributionNotFound:
        pass
else:
    try:
        print(version("nvflare"))
    except PackageNotFoundError:
        pass
"""


def nvflare_version_of(python, timeout=120):
    """The nvflare release installed for the Python PYTHON (a path, ~ allowed, or a command name in PATH), None when
    it has none. A venv's site-packages is read without starting it; any other Python is asked. Raises OSError
    when PYTHON cannot be found or run."""
    import glob
    import subprocess

    path = os.path.expanduser(str(python))
    if "/" not in path:
        path = shutil.which(path) or path
    path = os.path.abspath(path)
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise OSError(errno.ENOENT, "no executable Python at %s" % path)
    if path == os.path.abspath(sys.executable):
        try:
            return installed_nvflare_version()
        except ModuleError:
            return None
    prefix = os.path.dirname(os.path.dirname(path))
    if os.path.isfile(os.path.join(prefix, "pyvenv.cfg")):
        found = _dist_info_in(glob.glob(os.path.join(prefix, "lib", "python3*", "site-packages", "")), "nvflare")
        if found:
            return found
    out = subprocess.run([path, "-c", _VERSION_SCRIPT], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=timeout, check=False)
    if out.returncode != 0:
        error = out.stderr.decode("utf-8", "replace").strip()[-400:]
        raise OSError(errno.ENOEXEC, "%s failed (exit %d): %s" % (path, out.returncode, error))
    text = out.stdout.decode("utf-8", "replace").strip()
    return text or None


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


class Layout:
    def __init__(self, workspace, project_name):
        self.workspace = os.path.abspath(os.path.expanduser(workspace))
        self.project_name = project_name
        self.project_dir = os.path.join(self.workspace, project_name)
        self.state_dir = os.path.join(self.project_dir, "state")
        self.cert_file = os.path.join(self.state_dir, CERT_FILE)
        self.state_file = os.path.join(self.state_dir, STATE_FILE)
        self.lock_file = os.path.join(self.state_dir, LOCK_FILE)
        self.retired_dir = os.path.join(self.state_dir, RETIRED_DIR)
        self.kits_dir = os.path.join(self.project_dir, "kits")
        self.staging_dir = os.path.join(self.project_dir, STAGING_DIR)
        # one ansible-playbook run at a time changes the federation (edgefl.nvflare.run_lock, playbooks/run_lock.yml);
        # next to the project, not in it: it is taken before provisioning has made the project
        self.run_lock_file = os.path.join(self.workspace, ".edgefl-run-%s.lock" % project_name)
        # playbooks/upgrade.yml keeps the project of the old version here until it verified the fleet or rolled back;
        # while it exists an upgrade did not finish (playbooks/run_lock.yml)
        self.upgrade_keep_dir = os.path.join(self.workspace, ".%s.upgrade-previous" % project_name)
        # a rollback puts the kept project back and moves the new version's here; it stays until every host was rolled
        # back too (playbooks/files/upgrade_keep.sh restore, then done): while it exists a rollback did not finish
        self.upgrade_rollback_dir = self.upgrade_keep_dir + ".failed"

    def kit(self, name):
        return os.path.join(self.kits_dir, name)

    def root_ca_files(self, name):
        """Every file that holds a root CA this project gave participant name, as paths and glob patterns: its
        current kit, the current root CA (cert.json), its kit in each prod_NN, the root CAs a rotation retired."""
        return [os.path.join(self.kit(name), "startup", "rootCA.pem"), self.cert_file,
                os.path.join(self.project_dir, "prod_*", name, "startup", "rootCA.pem"),
                os.path.join(self.retired_dir, "*", "rootCA.pem")]

    def kit_present(self, name):
        return os.path.isdir(os.path.join(self.kit(name), "startup"))

    def prod_dirs(self):
        try:
            names = os.listdir(self.project_dir)
        except OSError:
            return []
        return sorted((n for n in names if n.startswith("prod_") and n[5:].isdigit()), key=lambda n: int(n[5:]))


def superseded_prod_dirs(layout):
    """The prod_NN directories of the project that no kits/<name> link points into: the kits earlier runs built and
    later runs replaced (renewals, CA rotations, rebuilt kits, removed participants). [] when kits/ cannot be read,
    so that nothing is taken for unused by mistake."""
    try:
        entries = os.listdir(layout.kits_dir)
    except OSError:
        return []
    used = set()
    for entry in entries:
        link = os.path.join(layout.kits_dir, entry)
        if not os.path.islink(link):
            continue
        target = os.path.normpath(os.path.join(layout.kits_dir, os.readlink(link)))
        used.add(os.path.relpath(target, layout.project_dir).split(os.sep)[0])
    out = []
    for name in layout.prod_dirs():
        path = os.path.join(layout.project_dir, name)
        if name not in used and os.path.isdir(path) and not os.path.islink(path):
            out.append(name)
    return out


def prune_prod_dirs(layout, names):
    """Delete these prod_NN directories of the project (superseded_prod_dirs)."""
    for name in names:
        shutil.rmtree(os.path.join(layout.project_dir, name))
    if names:
        fsync_dir(layout.project_dir)


def _corrupt(path, what):
    return ModuleError(
        "the provisioning workspace state is corrupt: %s %s. No run of edgefl.nvflare.provision writes such a "
        "state (it may have been edited by hand or damaged on disk). It holds the root CA key: restore the "
        "workspace from the archive playbooks/backup.yml wrote (playbooks/restore.yml -e nvflare_backup_file=<archive> "
        "-e nvflare_restore_force=true moves this one aside), or provision into a new, empty workspace (every "
        "device then needs its new kit)" % (path, what), field="workspace")


def _read_json(path):
    """The parsed JSON file; ModuleError (corrupt workspace) when it cannot be read or parsed."""
    try:
        with open(path, "r") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise _corrupt(path, "cannot be read as JSON (%s)" % type(exc).__name__)


def read_cert_json(layout):
    """cert.json's content (dict) or None when there is none; ModuleError when corrupt."""
    if not os.path.exists(layout.cert_file):
        return None
    content = _read_json(layout.cert_file)
    if not isinstance(content, dict) or not isinstance(content.get("root_cert"), str) \
            or not isinstance(content.get("root_pri_key"), str):
        raise _corrupt(layout.cert_file, "has no root CA certificate/key")
    return content


def _removed_map(state):
    """{name: {"date": ..., "cert_fp": ...}} from the state (older states kept only the fingerprint)."""
    out = {}
    for name, rec in ((state or {}).get("removed") or {}).items():
        if isinstance(rec, dict):
            out[name] = {"date": rec.get("date"), "cert_fp": rec.get("cert_fp")}
        else:
            out[name] = {"date": None, "cert_fp": rec}
    return out


def load_state(layout):
    """(edgefl state or None, cert.json content or None); raise ModuleError when corrupt."""
    content = read_cert_json(layout)
    state = None
    if os.path.exists(layout.state_file):
        state = _read_json(layout.state_file)
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION \
                or not isinstance(state.get("participants"), dict) or not isinstance(state.get("global"), dict):
            raise _corrupt(layout.state_file, "has an unknown format")
        if content is None:
            raise _corrupt(layout.cert_file, "is missing while %s records provisioned kits" % STATE_FILE)
        missing = sorted(n for n in state["participants"] if not isinstance(content.get(n), dict))
        if missing:
            raise _corrupt(layout.cert_file, "has no certificate for %s" % ", ".join(missing[:5]))
    return state, content


def _load_cert(pem):
    from cryptography import x509

    if isinstance(pem, str):
        pem = pem.encode("ascii")
    return x509.load_pem_x509_certificate(pem)


def cert_info(pem, kind, now=None):
    cert = _load_cert(pem)
    now = now or _utcnow()
    after = cert.not_valid_after_utc
    return {"type": kind, "not_after": _iso(after), "days_left": int((after - now).total_seconds() // 86400)}


def kit_cert_path(layout, name, kind):
    return os.path.join(layout.kit(name), "startup", "server.crt" if kind == "server" else "client.crt")


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


def _names(value):
    """A list option given as a list or as a comma-separated string -> sorted unique names."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    out = set()
    for v in value:
        for part in str(v).split(","):
            if part.strip():
                out.add(part.strip())
    return sorted(out)


class Options:
    """The run's lifecycle options (defaults = a plain provisioning run)."""

    def __init__(self, force=False, renew=False, rotate_ca=False, allow_readd=None, remove=None,
                 cert_validity_days=None, ca_validity_days=None):
        self.force = bool(force)
        self.renew = bool(renew)
        self.rotate_ca = bool(rotate_ca)
        self.allow_readd = _names(allow_readd)
        self.remove = _names(remove)
        self.cert_validity_days = cert_validity_days
        self.ca_validity_days = ca_validity_days
        for field in ("cert_validity_days", "ca_validity_days"):
            v = getattr(self, field)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise SpecError(field, "must be a positive number of days, got %r" % (v,))


class Plan:
    """What a run would do; computed without writing anything."""

    def __init__(self, project, labels, hosts, layout, nvflare_version, force=False, options=None):
        options = options or Options(force=force)
        self.options = options
        self.project = project
        self.labels = labels
        self.hosts = hosts
        self.layout = layout
        self.nvflare_version = nvflare_version
        self.incremental = is_incremental(project)
        self.nvflare_warnings = []  # what NVFLARE itself warned of while it provisioned (compat.provision)
        self.ca_days = options.ca_validity_days or root_valid_days(project) or DEFAULT_CA_VALIDITY_DAYS
        self.cert_days = options.cert_validity_days or DEFAULT_CERT_VALIDITY_DAYS
        self.server = [p for p in project["participants"] if p["type"] == "server"][0]
        self.state, self.cert_content = load_state(layout)
        self.cert_subjects = None if self.cert_content is None else set(
            k for k, v in self.cert_content.items() if isinstance(v, dict))
        recorded = (self.state or {}).get("participants", {})
        self.recorded = recorded
        self.removed_before = _removed_map(self.state)
        inventory = {p["name"]: p for p in project["participants"]}
        self.inventory = inventory
        if self.server["name"] in options.remove:
            raise SpecError("remove", "%s is the server; a federation cannot run without it, it cannot be removed"
                            % self.server["name"])
        # names removed earlier that are wanted again
        readd = sorted(n for n in inventory if n in self.removed_before and n not in options.remove)
        self.refused = [n for n in readd if n not in options.allow_readd]
        self.readded = readd
        self.wanted = {n: p for n, p in inventory.items() if n not in options.remove}
        project = dict(project, participants=[p for p in project["participants"] if p["name"] in self.wanted])
        self.project = project
        self.links = kit_links(project)
        self.global_spec = _global_spec(project, nvflare_version, self.incremental)
        self.removed = sorted(n for n in recorded if n not in self.wanted)
        # keys of removed names still in cert.json or in a kit (a run killed half-way through a removal)
        gone = set(self.removed_before) | set(self.removed)
        gone -= set(self.wanted)
        self.purge_cert = sorted(n for n in gone if self.cert_subjects and n in self.cert_subjects)
        self.purge_files = self._key_files(gone)
        self.reasons = {}
        self.regenerate = []
        global_changes = []
        if self.state is not None:
            global_changes = _changed_keys(self.state["global"], json.loads(json.dumps(self.global_spec)))
        self.global_changes = global_changes
        self.stale_kits = self._stale_kits()
        for name, p in self.wanted.items():
            rec = recorded.get(name)
            if rec is None:
                self.reasons[name] = "re-added" if name in readd else "added"
                if self.cert_subjects and name in self.cert_subjects and self.state is not None:
                    old = self.removed_before.get(name)
                    if name in readd or (old and old.get("cert_fp") != fingerprint(_cert_spec(p))):
                        self.regenerate.append(name)
                continue
            why = []
            if rec.get("fp") != fingerprint(p):
                why.append("definition changed")
                if rec.get("cert_fp") != fingerprint(_cert_spec(p)):
                    self.regenerate.append(name)
            elif rec.get("links_fp") != self.links_fp(name):
                why.append("relay routes changed")
            if global_changes:
                why.append("federation settings changed: %s" % ", ".join(global_changes))
            if not layout.kit_present(name):
                why.append("kit missing")
            elif name in self.stale_kits:
                why.append(self.stale_kits[name])
            if options.rotate_ca:
                why.append("rotate_ca")
            elif options.renew:
                why.append("renew")
            if options.force:
                why.append("force")
            if why:
                self.reasons[name] = "; ".join(why)
        self.added = sorted(n for n in self.wanted if n not in recorded)
        self.changed_participants = sorted(n for n in self.reasons if n in recorded)
        self.to_build = [n for n in self.wanted if n in self.reasons]
        if self.to_build and not self.incremental:
            self.to_build = list(self.wanted)
        if options.rotate_ca or options.renew:
            self.to_build = list(self.wanted)
        self.renewed = sorted(self.wanted) if (options.renew or options.rotate_ca) else []
        self.mode_fixes = _mode_fixes(layout)
        # what a killed run left behind: the staging copy of NVFLARE's workspace, temp files of atomic writes
        self.leftovers = ([layout.staging_dir] if os.path.lexists(layout.staging_dir) else []) \
            + _temp_files(layout.state_dir) + _temp_files(layout.kits_dir)

    def check_membership(self):
        """Refuse re-adding removed names without allow_readd, and removals past the safety limit."""
        refused = self.refused
        if refused:
            one = len(refused) == 1
            raise SpecError("allow_readd", "%s %s removed from the federation (%s): %s deleted and the server "
                            "keeps %s out. Remove %s from the inventory, or allow re-adding with "
                            "-e nvflare_allow_readd=%s (%s a new key and kit)"
                            % (", ".join(refused), "was" if one else "were",
                               ", ".join("%s on %s" % (n, self.removed_before[n].get("date") or "an earlier run")
                                         for n in refused),
                               "its key was" if one else "their keys were", "it" if one else "them",
                               "it" if one else "them", ",".join(refused), "it gets" if one else "they get"))
        options = self.options
        recorded = self.recorded
        unknown = [n for n in options.remove if n not in recorded and n not in self.removed_before]
        if unknown:
            # a typo, or a name never provisioned here: refused before anything is written (not even a root CA)
            known = sorted(n for n, r in recorded.items() if r.get("type") in ("client", "relay"))
            listed = sorted(n for n in unknown if n in self.inventory)
            raise SpecError("remove", "%s %s not a participant of this workspace (%s), so there is nothing to remove; "
                            "nothing was changed. Give the site name (or inventory host name) of a client or relay%s%s"
                            % (", ".join(unknown), "is" if len(unknown) == 1 else "are", self.layout.project_dir,
                               ": %s" % ", ".join(known) if known else " (this workspace has none yet)",
                               ". %s %s in the inventory but never provisioned: take %s out of the inventory instead"
                               % (", ".join(listed), "is" if len(listed) == 1 else "are",
                                  "it" if len(listed) == 1 else "them") if listed else ""))
        by_absence = [n for n in self.removed if n not in options.remove]
        recorded_clients = [n for n, r in recorded.items() if r.get("type") == "client"]
        all_clients = bool(recorded_clients) and all(n in self.removed for n in recorded_clients)
        if by_absence and (len(self.removed) > REMOVE_LIMIT or all_clients):
            raise SpecError("remove", "this run would remove %s (%s): %s. Nothing was changed. If that is meant, "
                            "name them in nvflare_remove_clients (-e nvflare_remove_clients=%s) to confirm"
                            % ("every client" if all_clients else "%d participants" % len(self.removed),
                               "absent from the inventory" if len(by_absence) == len(self.removed)
                               else "some absent from the inventory", ", ".join(self.removed),
                               ",".join(self.removed)))

    def _key_files(self, names):
        found = []
        for prod in self.layout.prod_dirs():
            for name in names:
                d = os.path.join(self.layout.project_dir, prod, name, "startup")
                try:
                    entries = os.listdir(d)
                except OSError:
                    continue
                found += [os.path.join(d, e) for e in sorted(entries) if e.endswith(".key")]
        for name in names:
            if os.path.lexists(self.layout.kit(name)):
                found.append(self.layout.kit(name))
        return found

    def _stale_kits(self):
        """{name: why} for current kits whose certificate or root CA is not the one cert.json records."""
        out = {}
        if not self.cert_content:
            return out
        root = self.cert_content.get("root_cert", "").encode("ascii")
        for name, p in self.wanted.items():
            if name not in self.recorded or not self.layout.kit_present(name):
                continue
            subject = self.cert_content.get(name)
            want = subject.get("cert") if isinstance(subject, dict) else None
            have = read_bytes(kit_cert_path(self.layout, name, p["type"]))
            have_root = read_bytes(os.path.join(self.layout.kit(name), "startup", "rootCA.pem"))
            if have_root != root:
                out[name] = "kit's rootCA.pem is not the workspace root CA (an interrupted run)"
            elif want is None or have != want.encode("ascii"):
                out[name] = "kit's certificate is not the one recorded in cert.json (an interrupted run)"
        return out

    def links_fp(self, name):
        """Fingerprint of what the kit takes from other participants; None when nothing (flat projects)."""
        links = self.links.get(name)
        return fingerprint(links) if links else None

    @property
    def changed(self):
        return bool(self.to_build or self.removed or self.mode_fixes or self.purge_cert or self.purge_files
                    or self.leftovers or self.options.rotate_ca or self.options.renew)

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
        return os.path.join(self.layout.project_dir, max(prods, key=lambda p: int(p[5:]))) if prods else None

    def certificates(self, content=None):
        """{"rootCA": info, name: info} for the root CA and every wanted participant cert.json has."""
        content = self.cert_content if content is None else content
        out = {}
        if not content:
            return out
        now = _utcnow()
        out["rootCA"] = cert_info(content["root_cert"], "root_ca", now)
        for name, p in self.wanted.items():
            subject = content.get(name)
            if isinstance(subject, dict) and subject.get("cert"):
                out[name] = cert_info(subject["cert"], p["type"], now)
        return out


def check_names(plan):
    """NVFLARE's own validation; needed only when the spec differs from what it already accepted."""
    if plan.to_build or plan.state is None:
        validate_with_nvflare(plan.project, plan.labels, plan.nvflare_version)


def _lock_modes(layout):
    for path, mode in ((layout.project_dir, 0o700), (layout.state_dir, 0o700), (layout.cert_file, 0o600)):
        if os.path.exists(path):
            os.chmod(path, mode)
    for name in os.listdir(layout.state_dir):
        p = os.path.join(layout.state_dir, name)
        if os.path.isfile(p):
            os.chmod(p, 0o600)


def _run_nvflare(plan, names, root_dir):
    """Provision ``names`` (plus the server NVFLARE always needs) under ``root_dir``; return the prod_NN path.

    Through the control node's own nvflare (2.4-2.9, _flare_compat.provision).
    """
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
    try:
        return compat.provision(project_dict, root_dir, plan.nvflare_version, plan.ca_days, plan.cert_days,
                                warnings=plan.nvflare_warnings)
    except compat.ProvisionFailed as exc:
        raise ModuleError(exc.msg, messages=exc.messages)


def _crash_point(name):
    """Test hook: EDGEFL_PROVISION_CRASH_AT=<point> kills this process with SIGKILL there (integration tests).

    Without the variable (production) it does nothing.
    """
    if os.environ.get("EDGEFL_PROVISION_CRASH_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _retire_root(layout, content):
    """Keep the current root CA (cert + key, 0600) under state/retired/<UTC time>/; return that directory."""
    if not os.path.isdir(layout.retired_dir):
        os.mkdir(layout.retired_dir, 0o700)
    stamp = _utcnow().strftime("%Y%m%dT%H%M%S%fZ")
    target = os.path.join(layout.retired_dir, stamp)
    os.mkdir(target, 0o700)
    atomic_write(os.path.join(target, "rootCA.pem"), content["root_cert"].encode("ascii"))
    atomic_write(os.path.join(target, "rootCA.key"), content["root_pri_key"].encode("ascii"))
    fsync_dir(layout.retired_dir)
    return target


def _write_state(plan, participants, removed_map):
    state = {
        "version": STATE_VERSION,
        "nvflare_version": plan.nvflare_version,
        "root_valid_days": plan.ca_days,
        "incremental": plan.incremental,
        "global": plan.global_spec,
        "participants": participants,
        "removed": removed_map,
    }
    atomic_write_json(plan.layout.state_file, state)


def apply(plan):
    """Carry the plan out (the caller holds the workspace lock). Returns (prod_NN written or None, cert.json content,
    retired root CA directory or None)."""
    layout = plan.layout
    for path in (layout.workspace, layout.project_dir, layout.state_dir):
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o700)
    os.chmod(layout.project_dir, 0o700)
    os.chmod(layout.state_dir, 0o700)
    if os.path.lexists(layout.staging_dir):
        shutil.rmtree(layout.staging_dir)
    _remove_temp_files(layout.state_dir)
    _remove_temp_files(layout.kits_dir)
    now = _iso(_utcnow())
    removed_map = dict(plan.removed_before)
    for name in plan.wanted:
        removed_map.pop(name, None)
    for name in plan.removed:
        removed_map[name] = {"date": now, "cert_fp": plan.recorded[name].get("cert_fp")}
    recorded = {n: r for n, r in plan.recorded.items() if n in plan.wanted}
    if plan.removed and plan.state is not None:
        # 1. the removal is recorded before any key goes (the rest of the state as it was): a kill from here on
        # leaves names the next run purges
        early = copy.deepcopy(plan.state)
        early["participants"] = {n: r for n, r in plan.recorded.items() if n not in plan.removed}
        early["removed"] = dict(plan.removed_before, **{n: removed_map[n] for n in plan.removed})
        atomic_write_json(layout.state_file, early)
        _crash_point("after-removal-state")
    content = copy.deepcopy(plan.cert_content) if plan.cert_content is not None else None
    if content is not None:
        for name in set(plan.purge_cert) | set(plan.removed) | set(plan.regenerate):
            content.pop(name, None)
        if plan.options.renew or plan.options.rotate_ca:
            for name in plan.wanted:
                content.pop(name, None)
        if plan.options.rotate_ca:
            content.pop("root_cert", None)
            content.pop("root_pri_key", None)
            content = {k: v for k, v in content.items() if not isinstance(v, dict)} or None
    prod = None
    built_prod = {}
    retired = None
    if plan.to_build:
        # 2. NVFLARE builds in a private staging workspace with a copy of cert.json
        stage_state = os.path.join(layout.staging_dir, layout.project_name, "state")
        os.makedirs(stage_state, mode=0o700)
        os.chmod(layout.staging_dir, 0o700)
        if content is not None:
            atomic_write_json(os.path.join(stage_state, CERT_FILE), content)
        try:
            staged = _run_nvflare(plan, plan.to_build, layout.staging_dir)
        except ModuleError:
            shutil.rmtree(layout.staging_dir, ignore_errors=True)
            raise
        _crash_point("after-nvflare")
        for name in plan.wanted:
            if name not in plan.to_build:
                # NVFLARE always builds the server (and, with relays, every relay and client); their current
                # kits are unchanged: drop the extra copies (and keys)
                shutil.rmtree(os.path.join(staged, name), ignore_errors=True)
        with open(os.path.join(stage_state, CERT_FILE), "rb") as f:
            new_content = json.load(f)
        _fsync_tree(staged)
        if plan.options.rotate_ca and plan.cert_content is not None:
            retired = _retire_root(layout, plan.cert_content)
            _crash_point("after-retire")
        # 3. cert.json, atomically; then the new prod_NN in one rename; then the kits/ links; the state last
        atomic_write_json(layout.cert_file, new_content)
        content = new_content
        _crash_point("after-cert-json")
        prod = plan.next_prod_dir()
        os.rename(staged, prod)
        fsync_dir(layout.project_dir)
        _crash_point("after-prod-rename")
        prod_name = os.path.basename(prod)
        if not os.path.isdir(layout.kits_dir):
            os.makedirs(layout.kits_dir, mode=0o700)
        for i, name in enumerate(plan.to_build):
            atomic_symlink(os.path.join("..", prod_name, name), layout.kit(name), sync=False)
            built_prod[name] = prod_name
            if i == len(plan.to_build) // 2:
                _crash_point("mid-links")
        fsync_dir(layout.kits_dir)
        shutil.rmtree(layout.staging_dir, ignore_errors=True)
    elif content != plan.cert_content:
        atomic_write_json(layout.cert_file, content)
    # removed names: no private key left in any kit copy, no kits/ link
    for path in plan.purge_files:
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
    if plan.purge_files and os.path.isdir(layout.kits_dir):
        fsync_dir(layout.kits_dir)
    _lock_modes(layout)
    for path, mode in plan.mode_fixes:
        if os.path.exists(path):
            os.chmod(path, mode)
    if plan.changed or plan.state is None:
        participants = {}
        for name, p in plan.wanted.items():
            rec = recorded.get(name, {})
            participants[name] = {
                "type": p["type"],
                "fp": fingerprint(p),
                "cert_fp": fingerprint(_cert_spec(p)),
                "prod": built_prod.get(name, rec.get("prod")),
                "desc": _describe(p, plan.hosts.get(name)),
            }
            if plan.links_fp(name):
                participants[name]["links_fp"] = plan.links_fp(name)
        _write_state(plan, participants, removed_map)
    return prod, content, retired
