# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for edgefl.nvflare.host_state: the fingerprint is computed here, on the control node.

It hashes what the control node decides a host's configuration from: every nvflare_* / edgefl_* variable of the
host (templated), its group names, the task's ``context`` (the host's model), the files of ``controller_paths``
(the host's provisioned kit) and the collection's own code. The module on the host only compares hashes.
"""

from __future__ import annotations

import os
import re
import socket
import time

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.edgefl.nvflare.plugins.module_utils._files import fingerprint
from ansible_collections.edgefl.nvflare.plugins.module_utils._host_state import observe_path, trusted_ca_digests

# the variables a role or playbook of this collection reads; "__" internals and facts are not inputs
VAR_NAME = re.compile(r"^(nvflare|edgefl)_[A-Za-z0-9_]*$")
# ... except those that steer a run and leave nothing on a host: a run with -e nvflare_fast_path=false or a quorum
# records the same fingerprint as one without
RUN_ONLY_VARS = frozenset((
    "nvflare_fast_path", "nvflare_min_clients", "nvflare_quorum_grace", "nvflare_wait_timeout",
    "nvflare_rollout_batch", "nvflare_max_fail_percentage", "nvflare_allow_restart_during_job",
    "nvflare_job_guard_timeout", "nvflare_cert_warn_days", "nvflare_replace_foreign_kit",
    # add_client.yml and remove_client.yml: which hosts this run adds or removes (add_client.yml records the new ones)
    "nvflare_add_clients", "nvflare_allow_readd", "nvflare_remove_clients",
))
# the collection's code: a new version of a role or plugin may decide something else
COLLECTION_DIRS = ("roles", "playbooks", "plugins")
_COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_collection_digest = None


def code_digest(root):
    """One hash of every file of roles/, playbooks/ and plugins/ under root (compiled Python left out)."""
    files = {}
    for top in COLLECTION_DIRS:
        for base, dirs, names in os.walk(os.path.join(root, top)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                if name.endswith((".pyc", ".pyo")):
                    continue
                full = os.path.join(base, name)
                files[os.path.relpath(full, root)] = observe_path({"path": full, "kind": "file"}).get("sha256")
    return fingerprint(files)


def collection_digest():
    """code_digest() of this collection, computed once per process."""
    global _collection_digest
    if _collection_digest is None:
        _collection_digest = code_digest(_COLLECTION_ROOT)
    return _collection_digest


def controller_digest(path):
    """A kit (or any path) on the control node: every entry's digest, mode and type; owners do not matter here."""
    entry = observe_path({"path": path, "kind": "tree"})
    if entry.get("type") == "tree":
        return dict((rel, (e.get("type"), e.get("mode"), e.get("sha256"), e.get("target")))
                    for rel, e in entry["entries"].items())
    return (entry.get("type"), entry.get("mode"), entry.get("sha256"), entry.get("target"))


def host_fingerprint(task_vars, template, context=None, controller_paths=()):
    """(fingerprint, reason): fingerprint is "" when a variable cannot be templated; reason says which."""
    variables = {}
    for name in sorted(task_vars):
        if not VAR_NAME.match(name) or name in RUN_ONLY_VARS:
            continue
        try:
            variables[name] = template(task_vars[name])
        except AnsibleError as exc:
            if not task_vars.get("ansible_facts"):
                return "", "%s needs facts (%s)" % (name, _first_line(exc))
            return "", "%s cannot be evaluated: %s" % (name, _first_line(exc))
    doc = {
        "vars": variables,
        "group_names": sorted(task_vars.get("group_names") or []),
        "context": context,
        "controller": dict((p, controller_digest(p)) for p in sorted(controller_paths)),
        "collection": collection_digest(),
    }
    return fingerprint(doc), ""


# what a refused host keeps: deploy.yml's probe runs before any role; the kit install's check (state=kit_owner) after
# the role's earlier steps, before any kit file
KEPT = {"probe": "Nothing was changed on it.", "kit_owner": "No directory or file of its kit was changed."}


def foreign_ca_check(host, kit_ca_path, digest, patterns, allow, check_run=False, kept=KEPT["probe"], trusted=None,
                     claim=None):
    """(foreign, message) for the root CA digest a probe read from the host's kit at kit_ca_path.

    foreign is None when there is nothing to compare (no kit on the host, no patterns, or no root CA on the control
    node outside a check run), else whether the digest is none of the root CAs of patterns (control-node files). In a
    check run a workspace without any root CA is one whose first provisioning check mode did not run: no kit on a
    host can be its. message is the error to stop the host with, or "" (not foreign, or allowed).

    trusted: trusted_ca_digests(patterns), when the caller has it. claim: the host has no kit and digest is that of
    the claim a deploy left there (host_state's claim); the message then names who claimed it."""
    if not digest or not patterns:
        return None, ""
    if trusted is None:
        trusted = trusted_ca_digests(patterns)
    if not trusted and not check_run:
        return None, ""
    if digest in trusted:
        return False, ""
    if allow:
        return True, ""
    ours = ("this workspace's (%s, and any root CA it retired)" % next(iter(trusted.values())) if trusted else
            "this workspace's, which has no root CA yet (its first provisioning makes one; check mode did not)")
    if claim is not None:
        return True, claim_message(host, claim, digest, ours, kept)
    return True, (
        "%s holds an NVFLARE kit (%s) issued by another root CA (certificate SHA-256 %s) than %s: the host belongs "
        "to another federation, or was deployed from another workspace, by another operator or by hand. %s "
        "To leave it alone, take it out of the inventory or deploy it from the workspace that made its "
        "kit (nvflare_workspace). To move it into this federation (its kit and identity are replaced; the other "
        "federation loses it), run again with -e nvflare_replace_foreign_kit=true."
        % (host, kit_ca_path, digest[:16], ours, kept))


def claim_message(host, claim, digest, ours, kept):
    """The error for a host without a kit that a deploy from another workspace claimed (foreign_ca_check)."""
    since = claim.get("since")
    when = (" at %s" % time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since))
            if isinstance(since, (int, float)) else "")
    by = " (%s)" % claim["by"] if claim.get("by") else ""
    return (
        "%s has no NVFLARE kit yet, but a deploy from another workspace%s claimed it%s, with another root CA "
        "(certificate SHA-256 %s) than %s: that deploy is running now, or stopped before it installed the kit. %s "
        "Two workspaces deploying the same hosts at once would each break the other's venv and kit. Let that deploy "
        "finish, or run this one from its workspace (nvflare_workspace). When that deploy was given up, move the host "
        "into this federation with -e nvflare_replace_foreign_kit=true."
        % (host, by, when, digest[:16], ours, kept))


def claimant():
    """The control node's name, for the claim this run leaves on a host."""
    return socket.gethostname() or "the control node"


def _first_line(exc):
    return (str(exc).strip().splitlines() or [""])[0][:200]


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        args = dict(self._task.args)
        context = args.pop("context", None)
        controller_paths = [str(p) for p in (args.pop("controller_paths", None) or [])]
        trusted_cas = [str(p) for p in (args.pop("trusted_cas", None) or [])]
        allow_foreign = boolean(args.pop("allow_foreign_ca", False), strict=False)
        check_run = boolean(task_vars.get("ansible_check_mode", False), strict=False)
        trusted = trusted_ca_digests(trusted_cas) if args.get("kit_ca") and trusted_cas else None
        claiming = args.get("state") == "claim"
        kept = KEPT.get(args.get("state", "probe"), KEPT["probe"])
        if (boolean(args.pop("claim", False), strict=False) or claiming) and args.get("kit_ca") and trusted_cas:
            args.update(claim=True, claim_trusted=sorted(trusted), allow_foreign_ca=allow_foreign)
            if claiming and trusted and not check_run:
                # the digest to claim with: the current root CA (the first pattern that names one)
                args.update(claim_ca=next(iter(trusted)), claim_by="%s:%s" % (claimant(), args["claim_by"])
                            if args.get("claim_by") else claimant())
        elif claiming:
            # nothing to claim with (no root CA on the control node): the module reads the kit's root CA only
            args["state"] = "kit_owner"
        if not args.get("claim_ca"):
            args.pop("claim_by", None)
        reason = ""
        if args.get("state", "probe") in ("probe", "record") and args.get("fingerprint") is None:
            args["fingerprint"], reason = host_fingerprint(
                task_vars, self._templar.template, context=context, controller_paths=controller_paths)
        result.update(self._execute_module(module_name="edgefl.nvflare.host_state", module_args=args,
                                           task_vars=task_vars))
        if reason and isinstance(result.get("reasons"), list):
            result["reasons"] = [reason] + [r for r in result["reasons"] if not r.startswith("no fingerprint")]
        # the playbook gathers this host's facts and probes again (playbooks/deploy.yml)
        result["needs_facts"] = " needs facts (" in reason
        if args.get("kit_ca") and "kit_ca" in result:
            # the run's check mode (the probe task itself runs with check_mode: false)
            host = task_vars.get("inventory_hostname", "the host")
            held = result.get("claim")
            if not result["kit_ca"] and isinstance(held, dict) and held.get("root_ca"):
                # no kit on the host: the claim a deploy left tells whose it is
                result["foreign_ca"], msg = foreign_ca_check(
                    host, args["kit_ca"], held["root_ca"], trusted_cas, allow_foreign, check_run=check_run, kept=kept,
                    trusted=trusted, claim=held)
            elif claiming:
                # a host with a kit: its root CA is the probe's and the kit install's to check (a run limited by tags
                # skips the probe and stops in the kit install, before any file of the kit, as before the claim)
                result["foreign_ca"], msg = None, ""
            else:
                result["foreign_ca"], msg = foreign_ca_check(
                    host, args["kit_ca"], result["kit_ca"], trusted_cas, allow_foreign, check_run=check_run, kept=kept,
                    trusted=trusted)
            if msg:
                result.update(failed=True, msg=msg)
        return result
