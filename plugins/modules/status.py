#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: status
short_description: Read the state of an NVIDIA FLARE federation (server, connected clients, jobs)
version_added: 1.0.0
description:
  - Opens an admin session with an admin startup kit through the FLARE API and reports the server state,
    the connected clients, the running jobs and, optionally, the recent jobs and each site's nvflare version.
  - An information module; it never changes anything and always reports RV(ignore:changed=false).
  - Made for C(until:) loops, for example waiting until RV(all_clients_connected) is true. Set
    O(fail_unreachable=false) to get RV(reachable=false) instead of a failure while the server starts.
author:
  - edgefl maintainers (@edgefl)
requirements:
  - nvflare (the same version as the federation) in the Python interpreter that runs the module.
extends_documentation_fragment:
  - edgefl.nvflare.attributes
  - edgefl.nvflare.flare_session
attributes:
  check_mode:
    support: full
    details:
      - Read only; runs the same in check mode.
  diff_mode:
    support: N/A
  idempotent:
    support: full
options:
  expected_clients:
    description:
      - Client site names that should be connected; drives RV(missing_clients) and RV(all_clients_connected).
    type: list
    elements: str
    default: []
  fail_unreachable:
    description:
      - Fail when the server cannot be reached. When V(false), return RV(reachable=false) instead.
    type: bool
    default: true
  jobs:
    description: Also list the most recent jobs (any state) in RV(jobs).
    type: bool
    default: false
  jobs_limit:
    description: How many recent jobs to list with O(jobs=true).
    type: int
    default: 10
  versions:
    description: Also ask every site for its nvflare version (RV(versions)).
    type: bool
    default: false
seealso:
  - module: edgefl.nvflare.job
"""

EXAMPLES = r"""
- name: Wait until every client has registered with the server
  edgefl.nvflare.status:
    admin_kit: "{{ nvflare_workspace }}/{{ nvflare_project_name }}/kits/admin@nvidia.com"
    # the client site names exactly as provisioning names them (nvflare_site_name, else the inventory name)
    expected_clients: "{{ (groups | edgefl.nvflare.participants(hostvars)).clients | map(attribute='name') | list }}"
    fail_unreachable: false
  delegate_to: localhost
  run_once: true
  register: fl_status
  until: fl_status.all_clients_connected
  retries: 30
  delay: 2

- name: Show connected clients
  ansible.builtin.debug:
    msg: "{{ fl_status.client_names }}"
"""

RETURN = r"""
reachable:
  description: Whether an admin session could be opened.
  returned: always
  type: bool
server:
  description: Server state (C(status) as reported by the server, or C(unreachable)) and its start time (epoch).
  returned: always
  type: dict
  sample: {"status": "started", "start_time": 1795821889.13}
clients:
  description: Connected clients with their last connection time (epoch), sorted by name.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "site-1", "last_connect_time": 1795821894.27}]
client_names:
  description: Names of the connected clients.
  returned: always
  type: list
  elements: str
  sample: ["site-1", "site-2"]
running_jobs:
  description: Jobs running on the server.
  returned: always
  type: list
  elements: dict
  sample: [{"job_id": "c174f0d6-6e70-4a6d-9bd4-4d93700a3018", "app_name": "app"}]
missing_clients:
  description: Names from O(expected_clients) that are not connected.
  returned: always
  type: list
  elements: str
all_clients_connected:
  description: True when every name in O(expected_clients) is connected.
  returned: always
  type: bool
jobs:
  description: Most recent jobs, newest first.
  returned: when O(jobs=true)
  type: list
  elements: dict
  sample: [{"job_id": "c174f0d6", "job_name": "numpy_fedavg", "status": "FINISHED:COMPLETED"}]
versions:
  description: Site name to nvflare version, for the sites that answered.
  returned: when O(versions=true)
  type: dict
  sample: {"server": "2.9.0", "site-1": "2.9.0"}
unreachable_msg:
  description: Why the server could not be reached.
  returned: when RV(reachable=false)
  type: str
error:
  description: Kind of failure (C(unreachable), C(auth), C(admin_kit)).
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.edgefl.nvflare.plugins.module_utils._base import EdgeflModule
from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import NVFLARE_IMPORT_ERROR, SESSION_ARGUMENT_SPEC
from ansible_collections.edgefl.nvflare.plugins.module_utils._flare_status import get_status


class StatusModule(EdgeflModule):
    """Information only: never reports a change."""

    def run(self):
        result = get_status(self.module.params)
        result.pop("changed", None)
        self.add_result(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **SESSION_ARGUMENT_SPEC,
            expected_clients=dict(type="list", elements="str", default=[]),
            fail_unreachable=dict(type="bool", default=True),
            jobs=dict(type="bool", default=False),
            jobs_limit=dict(type="int", default=10),
            versions=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if NVFLARE_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("nvflare"), exception=NVFLARE_IMPORT_ERROR)
    StatusModule(module).execute()


if __name__ == "__main__":
    main()
