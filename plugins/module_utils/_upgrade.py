# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The decisions of playbooks/upgrade.yml (filters upgrade_plan and upgrade_verify): which hosts switch to the
new nvflare version, and whether every site registered again with it."""

from __future__ import annotations

import re


class UpgradeError(ValueError):
    pass


_VERSION = re.compile(r"^[0-9]+\.[0-9]+(\.[0-9]+)?([a-z]+[0-9]*)?$")


def _vtuple(text):
    """A release as something to order by: (major, minor, patch, final?, pre-release number). A pre-release comes
    before its final release (2.9.0rc1 < 2.9.0), as pip orders them; 2.9 is 2.9.0."""
    m = re.match(r"^([0-9]+)\.([0-9]+)(?:\.([0-9]+))?([a-z]+)?([0-9]*)", str(text))
    if not m:
        return (0, 0, 0, 0, 0)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), 0 if m.group(4) else 1, int(m.group(5) or 0))


def _check_version(version):
    if not isinstance(version, str) or not _VERSION.match(version):
        raise UpgradeError("upgrade: the target version must be a release such as 2.7.3, got %r" % (version,))


def upgrade_plan(hosts, version):
    """Which hosts switch to ``version``. A host whose live venv already runs it but still has a previous venv
    (``previous_version``) was switched by an earlier run that was killed before it verified the fleet: it is
    resumed (in ``switch`` and ``resume``: its kit is installed and its service started again, and it is rolled
    back or cleaned up with the others), not staged and swapped again. A host with a previous venv that runs another
    version than ``version`` belongs to an unfinished upgrade to that version: the plan is not ok until that one is
    finished."""
    _check_version(version)
    if not isinstance(hosts, dict):
        raise UpgradeError("upgrade_plan: expects a dict host -> {current, staged}, got %s" % type(hosts).__name__)
    switch, resume, current, no_venv = [], [], [], []
    unfinished = {}
    from_versions = set()
    for host in sorted(hosts):
        state = hosts[host] or {}
        have = str(state.get("current") or "").strip()
        previous = str(state.get("previous_version") or "").strip()
        if not have:
            no_venv.append(host)
        elif previous and have == version:
            switch.append(host)
            resume.append(host)
            from_versions.add(previous)
        elif previous:
            unfinished.setdefault(have, []).append(host)
        elif have == version:
            current.append(host)
        else:
            switch.append(host)
            from_versions.add(have)
    downgrade = any(_vtuple(v) > _vtuple(version) for v in from_versions)
    ok = not no_venv and not unfinished
    if no_venv:
        msg = ("no NVFLARE venv on %s: deploy them with site.yml first (upgrade.yml moves a running federation "
               "to another version)" % ", ".join(no_venv))
    elif unfinished:
        msg = ("an earlier upgrade that did not finish switched %s: run upgrade.yml -e nvflare_version=%s first (it "
               "resumes that upgrade, or rolls it back when it fails), then move to %s"
               % ("; ".join("%s to nvflare %s" % (", ".join(h), v) for v, h in sorted(unfinished.items())),
                  sorted(unfinished, key=_vtuple)[0], version))
    elif not switch:
        msg = "every host already runs nvflare %s: nothing to switch" % version
    else:
        msg = "%s %d host(s) from nvflare %s to %s: %s" % (
            "downgrade" if downgrade else "upgrade", len(switch), ", ".join(sorted(from_versions, key=_vtuple)),
            version, ", ".join(switch))
        if resume:
            msg += " (resuming an earlier run that did not finish: %s already switched)" % ", ".join(resume)
    return {
        "version": version,
        "switch": switch,
        "resume": resume,
        "current": current,
        "no_venv": no_venv,
        "from_versions": sorted(from_versions, key=_vtuple),
        "downgrade": downgrade,
        "ok": ok,
        "msg": msg,
    }


# status module failures that are no missing FLARE API call (which the clients' logs may stand in for): the server
# refused the admin, the admin kit is no kit, a client outside the inventory is connected, the server failed
VERIFY_REFUSALS = ("auth", "admin_kit", "unknown_clients", "server_error", "unreachable")


def upgrade_verify(status, expected_clients, version, host_versions=None, registered=None):
    """Did every expected client register again, and does every site run ``version``?

    ``status``: the edgefl.nvflare.status result (reachable, client_names, versions). ``host_versions``: site name
    to the nvflare version of the live venv on its host; it stands in for a site the server's version report does not
    list (servers before 2.8 have no version report). ``registered``: client sites whose service logged its
    registration after the switch (nvflare_service waits for it); used only when the status module itself failed
    for want of a FLARE API call (they exist from NVFLARE 2.8 on), never when the server does not answer or refused
    the admin, nor when a client outside the inventory is connected (VERIFY_REFUSALS).
    """
    _check_version(version)
    status = status or {}
    host_versions = host_versions or {}
    expected = sorted(set(expected_clients or []))
    if status.get("failed") and status.get("error") in VERIFY_REFUSALS:
        # a failure that says something about the federation, not about the FLARE API of this version
        return {"ok": False, "missing": expected, "wrong_version": {}, "unknown": [], "versions": dict(host_versions),
                "from_logs": False, "msg": "the status check failed (%s): %s" % (status["error"], status.get("msg") or "")}
    from_logs = bool(status.get("failed")) and registered is not None
    if from_logs:
        connected = set(registered)
    elif not status.get("reachable", False):
        return {"ok": False, "missing": expected, "wrong_version": {}, "unknown": [], "versions": dict(host_versions),
                "from_logs": False,
                "msg": "the server does not answer: %s" % (status.get("unreachable_msg") or status.get("msg") or "unreachable")}
    else:
        connected = set(status.get("client_names") or [])
    missing = [c for c in expected if c not in connected]
    reported = {} if from_logs else dict(
        (str(k), str(v)) for k, v in (status.get("versions") or {}).items() if isinstance(v, (str, int, float)))
    versions = dict(host_versions)
    versions.update(reported)
    wrong = dict((site, ver) for site, ver in sorted(versions.items()) if ver != version)
    unknown = [c for c in expected if c not in versions]
    ok = not missing and not wrong and not unknown
    parts = []
    if missing:
        parts.append("not registered: %s" % ", ".join(missing))
    if wrong:
        parts.append("running another version: %s" % ", ".join("%s %s" % kv for kv in sorted(wrong.items())))
    if unknown:
        parts.append("version unknown: %s" % ", ".join(unknown))
    if ok:
        msg = "all %d client(s) registered with nvflare %s" % (len(expected), version)
        if from_logs:
            msg += " (read from each client's log and venv: the status module needs NVFLARE 2.8+)"
    else:
        msg = "; ".join(parts)
    return {"ok": ok, "missing": missing, "wrong_version": wrong, "unknown": unknown, "versions": versions,
            "from_logs": from_logs, "msg": msg}
