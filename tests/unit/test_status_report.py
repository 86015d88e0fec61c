# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The edgefl.nvflare.status_report filter and the table playbooks/status.yml prints with it.

The status inputs are edgefl.nvflare.status results as the module returns them against a real
federation (reachable, unreachable with fail_unreachable=false) and as Ansible registers a skipped
task; test_status.py also feeds the filter a live result.
"""

from __future__ import annotations

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.status_report import FilterModule

status_report = FilterModule().filters()["status_report"]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REACHABLE = {
    "changed": False,
    "reachable": True,
    "server": {"status": "started", "start_time": 1795821889.13},
    "clients": [
        {"name": "site-1", "last_connect_time": 1795821894.27},
        {"name": "site-2", "last_connect_time": 1795821894.91},
    ],
    "client_names": ["site-1", "site-2"],
    "running_jobs": [{"job_id": "5d1e0c7a-1111-4c55-9a0e-0a9e6d0f2b11", "app_name": "app"}],
    "missing_clients": ["site-3"],
    "all_clients_connected": False,
    "jobs": [
        {"job_id": "5d1e0c7a-1111-4c55-9a0e-0a9e6d0f2b11", "job_name": "numpy_fedavg", "status": "RUNNING",
         "submit_time": "2026-12-01T15:14:59.1+00:00", "duration": "N/A"},
        {"job_id": "1c5a9b9a-f9e0-4973-a4ec-51d58ea80016", "job_name": "numpy_fedavg", "status": "FINISHED:COMPLETED",
         "submit_time": "2026-12-01T15:10:02.4+00:00", "duration": "0:00:16.899939"},
    ],
    "versions": {"server": "2.9.0", "site-1": "2.9.0", "site-2": "2.8.1"},
}
UNREACHABLE = {
    "changed": False,
    "reachable": False,
    "server": {"status": "unreachable", "start_time": None},
    "clients": [],
    "client_names": [],
    "running_jobs": [],
    "missing_clients": ["site-1", "site-2"],
    "all_clients_connected": False,
    "unreachable_msg": "cannot reach the NVFLARE server named in /ws/admin/startup/fed_admin.json within 5.0s",
}
# what `register` holds when the status task was skipped (no admin kit on the control node yet)
SKIPPED = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False", "false_condition": "x"}

# as playbooks/status.yml builds them from the model (edgefl.nvflare.federation: server, relays, clients with
# their path); site-4 as an older caller without a path
HOSTS = [
    {"site_name": "server1", "role": "server", "service": "active", "path": ["server1"]},
    {"site_name": "site-1", "role": "client", "service": "active", "path": ["site-1", "server1"]},
    {"site_name": "site-2", "role": "client", "service": "activating", "path": ["site-2", "server1"]},
    {"site_name": "site-3", "role": "client", "service": "inactive", "path": ["site-3", "server1"]},
    {"site_name": "site-4", "role": "client", "service": None},
]
PATHS = {"server1": "server1", "site-1": "site-1 -> server1", "site-2": "site-2 -> server1", "site-3": "site-3 -> server1",
         "site-4": "-"}


def row(site, role, service, registered, nvflare, path=None):
    return {"site": site, "role": role, "service": service, "registered": registered, "nvflare": nvflare,
            "path": PATHS[site] if path is None else path}


@pytest.mark.parametrize(
    "status, rows, jobs",
    [
        (
            REACHABLE,
            [
                row("server1", "server", "active", "up", "2.9.0"),
                row("site-1", "client", "active", "connected", "2.9.0"),
                row("site-2", "client", "activating", "connected", "2.8.1"),
                row("site-3", "client", "inactive", "NOT connected", "?"),
                row("site-4", "client", "?", "NOT connected", "?"),
            ],
            [
                "running jobs: 5d1e0c7a-1111-4c55-9a0e-0a9e6d0f2b11",
                "job 5d1e0c7a-1111-4c55-9a0e-0a9e6d0f2b11 numpy_fedavg RUNNING",
                "job 1c5a9b9a-f9e0-4973-a4ec-51d58ea80016 numpy_fedavg FINISHED:COMPLETED",
            ],
        ),
        # a server that did not answer, or was not asked, says nothing of the clients and the jobs: '?' and
        # 'unknown', not 'NOT connected' and 'none', and a note that says why
        (
            UNREACHABLE,
            [
                row("server1", "server", "active", "unreachable", "?"),
                row("site-1", "client", "active", "?", "?"),
                row("site-2", "client", "activating", "?", "?"),
                row("site-3", "client", "inactive", "?", "?"),
                row("site-4", "client", "?", "?", "?"),
            ],
            ["running jobs: unknown (the server did not answer)"],
        ),
        (
            SKIPPED,
            [
                row("server1", "server", "active", "?", "?"),
                row("site-1", "client", "active", "?", "?"),
                row("site-2", "client", "activating", "?", "?"),
                row("site-3", "client", "inactive", "?", "?"),
                row("site-4", "client", "?", "?", "?"),
            ],
            ["running jobs: unknown (the server was not asked)"],
        ),
    ],
    ids=["reachable", "unreachable", "skipped"],
)
def test_rows_and_job_lines(status, rows, jobs):
    report = status_report(HOSTS, status)
    assert report["hosts"] == rows and report["jobs"] == jobs
    notes = {"reachable": [], "unreachable": ["WARNING the server did not answer: %s (check its service and <server "
                                              "workspace>/log.txt)" % UNREACHABLE.get("unreachable_msg")],
             "skipped": ["WARNING the server was not asked: this control node has no admin kit (deploy.yml copies it "
                         "to nvflare_admin_dest)"]}
    assert report["notes"] == notes["reachable" if status is REACHABLE else "unreachable" if status is UNREACHABLE
                                    else "skipped"]


def test_server_version_is_read_under_server_not_its_site_name():
    # report_version names the server "server" whatever its site name is; a client named like it is not it
    status = dict(REACHABLE, versions={"server": "2.9.0", "server1": "9.9.9"})
    report = status_report([{"site_name": "server1", "role": "server", "service": "active"}], status)
    assert report["hosts"][0]["nvflare"] == "2.9.0"


def test_a_client_is_connected_only_under_its_own_site_name():
    hosts = [{"site_name": "site-10", "role": "client", "service": "active"}]
    assert status_report(hosts, REACHABLE)["hosts"][0]["registered"] == "NOT connected"


def test_no_hosts_still_gives_the_job_lines():
    assert status_report([], REACHABLE)["hosts"] == []
    assert status_report([], REACHABLE)["jobs"][0].startswith("running jobs: 5d1e0c7a")


def test_a_host_without_a_path_shows_a_dash():
    hosts = [{"site_name": "site-1", "role": "client", "service": "active", "path": []}]
    assert status_report(hosts, REACHABLE)["hosts"][0]["path"] == "-"


@pytest.mark.parametrize(
    "hosts",
    [
        "server1",
        [{"role": "server", "service": "active"}],
        [{"site_name": "site-1", "role": "admin", "service": "active"}],
        [{"site_name": "site-1", "role": "client", "service": "active", "path": "site-1 -> server1"}],
        ["site-1"],
    ],
)
def test_bad_host_entries_fail_clearly(hosts):
    with pytest.raises(AnsibleFilterError, match="status_report"):
        status_report(hosts, REACHABLE)


def _print_task():
    with open(os.path.join(ROOT, "playbooks", "status.yml")) as f:
        plays = yaml.safe_load(f)
    tasks = [t for play in plays for t in play.get("tasks", [])]
    return next(t for t in tasks if t["name"] == "Print the status table")


def test_the_playbook_uses_this_filter_and_to_prettytable():
    task = _print_task()
    assert "edgefl.nvflare.status_report(__status)" in task["vars"]["__report"]
    assert "community.general.to_prettytable(**__columns)" in task["ansible.builtin.debug"]["msg"]
    columns = task["vars"]["__columns"]
    assert columns["column_order"] == ["site", "role", "service", "registered", "nvflare", "path"]
    assert columns["header_names"] == ["SITE", "ROLE", "SERVICE", "REGISTERED", "NVFLARE", "PATH"]


def test_the_table_the_playbook_prints():
    """The rows through community.general.to_prettytable with the playbook's own column options."""
    pytest.importorskip("prettytable", reason="community.general.to_prettytable needs prettytable on the control node")
    from ansible_collections.community.general.plugins.filter.to_prettytable import to_prettytable

    columns = _print_task()["vars"]["__columns"]
    lines = to_prettytable(status_report(HOSTS, REACHABLE)["hosts"], **columns).splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines if line.startswith("|")]
    assert cells[0] == ["SITE", "ROLE", "SERVICE", "REGISTERED", "NVFLARE", "PATH"]
    assert cells[1:] == [
        ["server1", "server", "active", "up", "2.9.0", "server1"],
        ["site-1", "client", "active", "connected", "2.9.0", "site-1 -> server1"],
        ["site-2", "client", "activating", "connected", "2.8.1", "site-2 -> server1"],
        ["site-3", "client", "inactive", "NOT connected", "?", "site-3 -> server1"],
        ["site-4", "client", "?", "NOT connected", "?", "-"],
    ]
    # left-aligned like the table it replaces (prettytable centres by default)
    assert lines[1].startswith("| SITE    | ROLE   | SERVICE    | REGISTERED    | NVFLARE | PATH "), lines[1]
    assert "| site-4  | client | ?          | NOT connected | ?       | -                 |" in lines, lines


def test_relays_and_the_path_of_each_client_from_the_model():
    """The entries playbooks/status.yml builds from edgefl.nvflare.federation for a relay topology: the relays'
    unit state, each client's way to the server through its relays."""
    from ansible_collections.edgefl.nvflare.plugins.filter.federation import FilterModule as FederationFilters

    federation = FederationFilters().filters()["federation"]
    groups = {"nvflare_server": ["server1"], "nvflare_relays": ["relay-a", "relay-b"],
              "nvflare_clients": ["site-1", "site-2", "site-3"]}
    hostvars = {"server1": {}, "relay-a": {}, "relay-b": {"nvflare_relay": "relay-a"},
                "site-1": {"nvflare_relay": "relay-b"}, "site-2": {"nvflare_relay": "relay-a"}, "site-3": {},
                "localhost": {}}
    fed = federation(groups, hostvars, host="localhost")
    services = {"server1": "active", "relay-a": "active", "relay-b": "failed", "site-1": "active",
                "site-2": "active", "site-3": "inactive"}
    hosts = [{"site_name": s["site_name"], "role": s["role"], "path": s["path"], "service": services[s["host"]]}
             for s in [fed["server"]] + fed["relays"] + fed["clients"]]
    status = dict(REACHABLE, client_names=["site-1", "site-2"], versions={"server": "2.9.0", "site-1": "2.9.0"})
    assert status_report(hosts, status)["hosts"] == [
        row("server1", "server", "active", "up", "2.9.0", "server1"),
        row("relay-a", "relay", "active", "-", "-", "relay-a -> server1"),
        row("relay-b", "relay", "failed", "-", "-", "relay-b -> relay-a -> server1"),
        row("site-1", "client", "active", "connected", "2.9.0", "site-1 -> relay-b -> relay-a -> server1"),
        row("site-2", "client", "active", "connected", "?", "site-2 -> relay-a -> server1"),
        row("site-3", "client", "inactive", "NOT connected", "?", "site-3 -> server1"),
    ]


def test_notes_flag_unknown_clients_and_expiring_certificates():
    status = dict(REACHABLE, unknown_clients=["site-9"], certificates=[
        {"name": "site-1", "type": "client", "not_after": "2026-12-20T18:00:00Z", "days_left": 19, "ok": False},
        {"name": "rootCA", "type": "root_ca", "not_after": "2027-01-01T00:00:00Z", "days_left": 10, "ok": False},
        {"name": "server1", "type": "server", "not_after": "2027-12-01T18:00:00Z", "days_left": 364, "ok": True},
    ])
    assert status_report([], status)["notes"] == [
        "WARNING unknown client connected: site-9 (not in the inventory; playbooks/remove_client.yml)",
        "WARNING certificate rootCA (root_ca) expires 2027-01-01T00:00:00Z, 10 days left: playbooks/rotate_ca.yml",
        "certificate server1 (server) expires 2027-12-01T18:00:00Z, 364 days left",
        "WARNING certificate site-1 (client) expires 2026-12-20T18:00:00Z, 19 days left: playbooks/renew_certs.yml",
    ]
