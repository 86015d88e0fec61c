# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: status_report
short_description: Rows and job lines of the federation status table
version_added: 0.1.0
positional: _input, status
author:
  - edgefl maintainers (@edgefl)
description:
  - Combines what each host reports about itself (site name, role, state of its systemd unit) with what the
    server reports (an M(edgefl.nvflare.status) result) into one row per host - C(site), C(role), C(service),
    C(registered), C(nvflare), C(path) - ready for P(community.general.to_prettytable#filter).
  - The server's row is registered C(up) when an admin session could be opened, else C(unreachable); a client's
    row is C(connected) when the server lists its site name among the connected clients, else C(NOT connected);
    a relay's row is C(-) (the server lists no relays; the relay's state is its C(service) column, and the
    clients behind it show whether it carries them).
    The nvflare version is the one the site reported, C(?) when it did not answer (C(-) for a relay).
  - C(path) is the host's way to the server, for example C(site-1 -> relay-1 -> server1) (the server's own is its
    site name); C(-) when the entry has none.
  - Also returns the running-jobs line and one line per recent job, and C(notes) - one line per connected client
    that the inventory does not list (C(unknown_clients)) and one per certificate with its expiry date and days
    left (C(certificates)), marked C(WARNING) below the status module's C(cert_warn_days).
  - Used by C(playbooks/status.yml).
options:
  _input:
    description:
      - One entry per host, in the order of the table. Keys C(site_name) (the NVFLARE site name), C(role)
        (C(server), C(relay) or C(client)), C(service) (the output of C(systemctl is-active) for its unit; missing
        or null shows as C(?)) and optionally C(path) (the site names from the host up to the server, the
        C(path) of P(edgefl.nvflare.site#filter)).
    type: list
    elements: dict
    required: true
  status:
    description:
      - A result of M(edgefl.nvflare.status) (C(reachable), C(client_names), C(running_jobs), and with
        O(edgefl.nvflare.status#module:versions=true) / O(edgefl.nvflare.status#module:jobs=true) also
        C(versions) and C(jobs)), and C(unknown_clients) and C(certificates) when it has them. Missing keys read as
        an unreachable server with no clients and no jobs.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Print the status table
  ansible.builtin.debug:
    msg: >-
      {{ (__report.hosts | community.general.to_prettytable(
            column_order=['site', 'role', 'service', 'registered', 'nvflare', 'path'])).splitlines() + __report.jobs }}
  vars:
    __report: >-
      {{ [{'site_name': 'server1', 'role': 'server', 'service': 'active', 'path': ['server1']},
          {'site_name': 'relay-1', 'role': 'relay', 'service': 'active', 'path': ['relay-1', 'server1']},
          {'site_name': 'site-1', 'role': 'client', 'service': 'active', 'path': ['site-1', 'relay-1', 'server1']}]
         | edgefl.nvflare.status_report(fl_status) }}
"""

RETURN = r"""
_value:
  description: The table rows and the job lines.
  type: dict
  contains:
    hosts:
      description: One row per entry of the input, in the same order.
      type: list
      elements: dict
      sample:
        - {"site": "server1", "role": "server", "service": "active", "registered": "up", "nvflare": "2.9.0",
           "path": "server1"}
        - {"site": "relay-1", "role": "relay", "service": "active", "registered": "-", "nvflare": "-",
           "path": "relay-1 -> server1"}
        - {"site": "site-1", "role": "client", "service": "active", "registered": "connected", "nvflare": "2.9.0",
           "path": "site-1 -> relay-1 -> server1"}
    jobs:
      description: C(running jobs:) followed by the running job IDs (or C(none)), then C(job <id> <name> <status>)
        for each recent job.
      type: list
      elements: str
      sample: ["running jobs: none", "job c174f0d6-6e70-4a6d-9bd4-4d93700a3018 numpy_fedavg FINISHED:COMPLETED"]
    notes:
      description: Why the server was not asked or did not answer, unknown connected clients, then the certificates
        (root CA first).
      type: list
      elements: str
      sample: ["WARNING unknown client connected: site-9 (not in the inventory; playbooks/remove_client.yml)",
               "certificate rootCA (root_ca) expires 2036-11-29T18:00:00Z, 3649 days left",
               "WARNING certificate site-1 (client) expires 2026-12-20T18:00:00Z, 19 days left: playbooks/renew_certs.yml"]
"""

from ansible.errors import AnsibleFilterError

COLUMNS = ("site", "role", "service", "registered", "nvflare", "path")
ROLES = ("server", "relay", "client")
UNKNOWN = "?"
NONE = "-"


def _asked(status):
    """Whether the server answered: a skipped status (no admin kit) or one that did not reach it says nothing of the
    clients or the jobs."""
    return bool(status.get("reachable")) and not status.get("skipped")


def _registered(role, site_name, status):
    if role == "relay":
        return NONE
    if role == "server":
        if status.get("skipped"):
            return UNKNOWN
        return "up" if status.get("reachable") else "unreachable"
    if not _asked(status):
        return UNKNOWN
    return "connected" if site_name in (status.get("client_names") or []) else "NOT connected"


def _version(role, site_name, status):
    if role == "relay":
        return NONE
    versions = status.get("versions") or {}
    return versions.get("server" if role == "server" else site_name, UNKNOWN)


def _row(host, status):
    if not isinstance(host, dict) or not host.get("site_name") or host.get("role") not in ROLES:
        raise AnsibleFilterError(
            "status_report: each host entry needs site_name and role (server, relay or client), got %r" % (host,)
        )
    site_name, role = host["site_name"], host["role"]
    service = host.get("service")
    path = host.get("path") or []
    if not isinstance(path, list):
        raise AnsibleFilterError("status_report: the path of %s must be a list of site names, got %r" % (site_name, path))
    return {
        "site": site_name,
        "role": role,
        "service": UNKNOWN if service is None else service,
        "registered": _registered(role, site_name, status),
        "nvflare": _version(role, site_name, status),
        "path": " -> ".join(str(p) for p in path) or NONE,
    }


def _job_lines(status):
    if not _asked(status):
        return ["running jobs: unknown (the server was not asked)" if status.get("skipped")
                else "running jobs: unknown (the server did not answer)"]
    running = [j.get("job_id") for j in status.get("running_jobs") or []]
    lines = ["running jobs: " + (", ".join(str(j) for j in running) or "none")]
    for job in status.get("jobs") or []:
        lines.append("job %s %s %s" % (job.get("job_id"), job.get("job_name"), job.get("status")))
    return lines


def _notes(status):
    lines = []
    if status.get("skipped"):
        lines.append("WARNING the server was not asked: this control node has no admin kit (deploy.yml copies it to "
                     "nvflare_admin_dest)")
    elif not status.get("reachable"):
        lines.append("WARNING the server did not answer: %s (check its service and <server workspace>/log.txt)"
                     % (status.get("unreachable_msg") or status.get("msg") or "no reason given"))
    lines += [
        "WARNING unknown client connected: %s (not in the inventory; playbooks/remove_client.yml)" % name
        for name in status.get("unknown_clients") or []
    ]
    certs = sorted(status.get("certificates") or [], key=lambda c: (c.get("name") != "rootCA", str(c.get("name"))))
    for cert in certs:
        line = "certificate %s (%s) expires %s, %s days left" % (
            cert.get("name"), cert.get("type"), cert.get("not_after"), cert.get("days_left"))
        if cert.get("ok") is False:
            line = "WARNING %s: playbooks/%s" % (line, "rotate_ca.yml" if cert.get("type") == "root_ca" else "renew_certs.yml")
        lines.append(line)
    return lines


def status_report(hosts, status):
    if not isinstance(hosts, list):
        raise AnsibleFilterError("status_report: the input must be a list of host entries, got %s" % type(hosts).__name__)
    status = status if isinstance(status, dict) else {}
    return {"hosts": [_row(h, status) for h in hosts], "jobs": _job_lines(status), "notes": _notes(status)}


class FilterModule:
    def filters(self):
        return {"status_report": status_report}
