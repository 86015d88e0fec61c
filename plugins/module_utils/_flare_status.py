# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This module_utils file is private to the edgefl.nvflare collection. It is not
# part of the public API and may change without notice; do not use it from other collections.

"""What the edgefl.nvflare.status module does, independent of AnsibleModule."""

from __future__ import annotations

import datetime
import glob
import os
import time

from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import (
    FlareClient,
    FlareError,
    ServerUnreachable,
    check_admin_kit,
)

ALLOW_RESTART_VAR = "nvflare_allow_restart_during_job"
# connection attempts of the restart guard (O(job_guard)) before it calls the server unreachable
GUARD_CONNECT_ATTEMPTS = 3


class UnknownClients(FlareError):
    kind = "unknown_clients"


def unknown_clients(connected, expected):
    """Connected client names that the inventory does not list (none when nothing is expected)."""
    if not expected:
        return []
    return sorted(set(n for n in connected if n) - set(expected))


def unknown_warning(names):
    return (
        "connected to the server but not in the inventory: %s. A removed client still connected is not locked "
        "out: run playbooks/remove_client.yml -e nvflare_remove_clients=%s (or add it to the inventory)"
        % (", ".join(names), ",".join(names))
    )


def _parse_time(value):
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    when = datetime.datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when


def cert_expiry(certificates, warn_days, now=None):
    """Rows (sorted by name) with not_after, days_left and ok, plus one warning per certificate below warn_days.

    certificates is the provision result's ``certificates`` ({name: {type, not_after, ...}}); days_left is
    recomputed from not_after at ``now`` (the provision run may be old).
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    rows, warnings = [], []
    for name in sorted(certificates or {}):
        info = certificates[name] or {}
        not_after = info.get("not_after")
        if not not_after:
            continue
        when = _parse_time(not_after)
        days_left = int((when - now).total_seconds() // 86400)
        row = {
            "name": name,
            "type": info.get("type") or "?",
            "not_after": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "days_left": days_left,
            "ok": days_left >= warn_days,
        }
        rows.append(row)
        if days_left < 0:
            warnings.append("certificate of %s (%s) EXPIRED on %s" % (name, row["type"], row["not_after"]))
        elif not row["ok"]:
            warnings.append(
                "certificate of %s (%s) expires on %s, in %d day(s) (below %d): run playbooks/%s"
                % (name, row["type"], row["not_after"], days_left, warn_days,
                   "rotate_ca.yml" if row["type"] == "root_ca" else "renew_certs.yml")
            )
    return rows, warnings


# kit file -> participant type, by the fed_*.json that names the kit's role
_KIT_TYPES = (("fed_server.json", "server", "server.crt"), ("fed_relay.json", "relay", "client.crt"),
              ("fed_admin.json", "admin", "client.crt"), ("fed_client.json", "client", "client.crt"))


def _not_after(path):
    from cryptography import x509

    with open(path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    when = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def kit_certificates(kits_dir):
    """The ``certificates`` of a provision result, read from the kits on the control node (<kits_dir>/<name>/startup)."""
    found = {}
    for startup in sorted(glob.glob(os.path.join(kits_dir, "*", "startup"))):
        name = os.path.basename(os.path.dirname(startup))
        for marker, kind, crt in _KIT_TYPES:
            if os.path.isfile(os.path.join(startup, marker)) and os.path.isfile(os.path.join(startup, crt)):
                found[name] = {"type": kind, "not_after": _not_after(os.path.join(startup, crt))}
                break
        root = os.path.join(startup, "rootCA.pem")
        if "rootCA" not in found and os.path.isfile(root):
            found["rootCA"] = {"type": "root_ca", "not_after": _not_after(root)}
    return found


# job store states of a job that a restart would cut short (a SUBMITTED job waits in the store and survives one)
ACTIVE_STATES = ("DISPATCHED", "RUNNING")


def _epoch(value):
    """Seconds since the epoch from a float or an ISO 8601 time (NVFLARE's submit_time), else None."""
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        return _parse_time(value).timestamp()
    except ValueError:
        return None


def finishing_jobs(jobs, live_ids, server_start):
    """Ids of jobs that the job store still lists as dispatched or running while the server runs no process for
    them: the server is finalizing them. NVFLARE publishes a job's final status only after its process has
    ended (2.9 waits up to 900 s for the clients' outcomes, then archives the workspace); a restart in that
    window leaves the job RUNNING for ever. A job submitted before this server process started is such a
    leftover of an earlier restart, not a job being finalized, so it does not count."""
    start = _epoch(server_start)
    found = []
    for job in jobs or []:
        job_id = str(job.get("job_id"))
        if str(job.get("status")) not in ACTIVE_STATES or job_id in live_ids:
            continue
        submitted = _epoch(job.get("submit_time"))
        if submitted is not None and start is not None and submitted < start:
            continue
        found.append(job_id)
    return found


def job_guard(status, timeout):
    """Whether services may restart now: {busy, job_ids, msg}. An unreachable server runs no job.

    Busy while the server runs a job process (``running_jobs``) and while it finalizes a job whose process has
    ended (``finishing_jobs``, read from the job store when the status was asked for the guard)."""
    if not status.get("reachable"):
        return {"busy": False, "job_ids": [], "msg": "the server is not reachable: no job is running"}
    ids = [str(j.get("job_id")) for j in status.get("running_jobs") or []]
    ids += [i for i in status.get("finishing_jobs") or [] if i not in ids]
    if not ids:
        return {"busy": False, "job_ids": [], "msg": "no job is running on the server"}
    return {
        "busy": True,
        "job_ids": ids,
        "msg": (
            "job(s) %s still running (or being finalized) on the server after %ss: a restart now would abort them. "
            "Wait until they finish (or abort them), or restart anyway with -e %s=true"
            % (", ".join(ids), timeout, ALLOW_RESTART_VAR)
        ),
    }


def connect(client, attempts, pause=3.0):
    """Open the admin session, trying ``attempts`` times: one slow answer from a busy server is no proof that it
    is down (the restart guard takes an unreachable server for one that runs no job)."""
    for attempt in range(max(1, attempts)):
        try:
            return client.connect()
        except ServerUnreachable:
            if attempt + 1 >= max(1, attempts):
                raise
            time.sleep(pause)


def set_clients(client, disable, enable):
    """Disable / enable clients at the server (NVFLARE's disable_client); return the names whose state changed."""
    changed = {"disabled": [], "enabled": []}
    for name in disable:
        for row in client.disable_client(name):
            if row.get("state") == "error":
                raise FlareError("the server could not disable client %s: %s" % (name, row.get("error")))
            if not row.get("already_disabled"):
                changed["disabled"].append(name)
    for name in enable:
        for row in client.enable_client(name):
            if row.get("state") == "error":
                raise FlareError("the server could not enable client %s: %s" % (name, row.get("error")))
            if row.get("was_disabled"):
                changed["enabled"].append(name)
    return changed


def _versions(report):
    """Map site name -> nvflare version from a report_version reply (best effort)."""
    versions = {}
    if not isinstance(report, dict):
        return versions
    for site, info in report.items():
        if isinstance(info, dict):
            ver = info.get("nvflare_version") or info.get("version") or info.get("NVFlare")
            if ver:
                versions[site] = str(ver)
        elif isinstance(info, str):
            versions[site] = info
    return versions


def get_status(params, check_mode=False):
    """The status result; ``warnings`` (a list) and ``changed`` say what the module warns and whether it changed."""
    check_admin_kit(params["admin_kit"])
    expected = sorted(set(params.get("expected_clients") or []))
    disable = sorted(set(params.get("disable_clients") or []))
    enable = sorted(set(params.get("enable_clients") or []) - set(disable))
    result = {"changed": False, "reachable": False, "warnings": []}
    certificates = params.get("certificates")
    if not certificates and params.get("kits_dir"):
        certificates = kit_certificates(params["kits_dir"])
    if certificates:
        rows, warnings = cert_expiry(certificates, params.get("cert_warn_days", 30))
        result["certificates"] = rows
        result["expiring_certificates"] = [r["name"] for r in rows if not r["ok"]]
        result["warnings"].extend(warnings)
    guard = params.get("job_guard", False)
    client = FlareClient(params["admin_kit"], params.get("username"), params["connect_timeout"])
    try:
        connect(client, GUARD_CONNECT_ATTEMPTS if guard else 1)
    except ServerUnreachable as e:
        if params["fail_unreachable"] or disable or enable:
            raise
        result.update(
            server={"status": "unreachable", "start_time": None},
            clients=[],
            client_names=[],
            running_jobs=[],
            missing_clients=expected,
            unknown_clients=[],
            all_clients_connected=False,
            unreachable_msg=e.msg,
        )
        result["job_guard"] = job_guard(result, params.get("job_guard_timeout", 0))
        return result
    try:
        if disable or enable:
            if check_mode:
                result["disabled"], result["enabled"] = disable, enable
            else:
                done = set_clients(client, disable, enable)
                result["disabled"], result["enabled"] = done["disabled"], done["enabled"]
            result["changed"] = bool(result["disabled"] or result["enabled"])
        status = client.system_status()
        result.update(status, reachable=True)
        if guard:
            live = [str(j.get("job_id")) for j in status.get("running_jobs") or []]
            result["finishing_jobs"] = finishing_jobs(
                client.list_jobs(), live, (status.get("server") or {}).get("start_time")
            )
        if params["jobs"]:
            result["jobs"] = [
                dict((k, j.get(k)) for k in ("job_id", "job_name", "status", "submit_time", "duration"))
                for j in client.list_jobs(limit=params["jobs_limit"])
            ]
        if params["versions"]:
            result["versions"] = _versions(client.client_versions())
    finally:
        client.close()
    names = [c["name"] for c in result["clients"]]
    result["client_names"] = names
    result["missing_clients"] = [n for n in expected if n not in names]
    result["unknown_clients"] = unknown_clients(names, expected)
    result["all_clients_connected"] = not result["missing_clients"]
    result["job_guard"] = job_guard(result, params.get("job_guard_timeout", 0))
    if result["unknown_clients"]:
        if params.get("fail_unknown", True):
            raise UnknownClients(
                unknown_warning(result["unknown_clients"]),
                unknown_clients=result["unknown_clients"],
                client_names=names,
            )
        result["warnings"].append(unknown_warning(result["unknown_clients"]))
    return result
