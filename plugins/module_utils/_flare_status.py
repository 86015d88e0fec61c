# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This module_utils file is private to the edgefl.nvflare collection. It is not
# part of the public API and may change without notice; do not use it from other collections.

"""What the edgefl.nvflare.status module does, independent of AnsibleModule."""

from __future__ import annotations

from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import (
    FlareClient,
    ServerUnreachable,
    check_admin_kit,
)


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


def get_status(params):
    check_admin_kit(params["admin_kit"])
    expected = sorted(set(params.get("expected_clients") or []))
    result = {"changed": False, "reachable": False}
    client = FlareClient(params["admin_kit"], params.get("username"), params["connect_timeout"])
    try:
        client.connect()
    except ServerUnreachable as e:
        if params["fail_unreachable"]:
            raise
        result.update(
            server={"status": "unreachable", "start_time": None},
            clients=[],
            client_names=[],
            running_jobs=[],
            missing_clients=expected,
            all_clients_connected=False,
            unreachable_msg=e.msg,
        )
        return result
    try:
        status = client.system_status()
        result.update(status, reachable=True)
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
    result["all_clients_connected"] = not result["missing_clients"]
    return result
