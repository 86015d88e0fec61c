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
  - An information module, except for O(disable_clients) and O(enable_clients); without them it never changes
    anything and reports RV(ignore:changed=false).
  - Warns about every connected client that O(expected_clients) does not list (RV(unknown_clients)), and, with
    O(expected_clients) set, fails on one unless O(fail_unknown=false).
  - Reports each participant's certificate expiry date and days left (RV(certificates)) from O(certificates)
    or O(kits_dir), and warns about those below O(cert_warn_days).
  - RV(job_guard) says whether a job runs on the server, for the restart guard of the playbooks.
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
      - Reads the same in check mode; O(disable_clients) / O(enable_clients) are not sent, every name given
        counts as a change.
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
  fail_unknown:
    description:
      - With O(expected_clients) set, fail when a connected client is not in it (a removed client still
        connected). When V(false), warn instead. Always only a warning when O(expected_clients) is empty.
    type: bool
    default: true
  certificates:
    description:
      - The C(certificates) result of M(edgefl.nvflare.provision) (name to C(type) and C(not_after)); RV(certificates)
        shows each with its days left.
    type: dict
  kits_dir:
    description:
      - When O(certificates) is not given, read the certificates from the startup kits under this control-node
        directory instead (C(<workspace>/<project>/kits)).
    type: path
  cert_warn_days:
    description: Warn about every certificate that expires in fewer days than this.
    type: int
    default: 30
  job_guard:
    description:
      - Answer for the restart guard of the playbooks (RV(job_guard)). A job then also counts as running while the
        job store still lists it as dispatched or running after its process has ended - the server is finalizing it
        (NVFLARE 2.9 waits up to 900 s for the clients' outcomes), and a restart in that window leaves the job
        RUNNING for ever (RV(finishing_jobs)). A leftover of that kind from before the server's last start does not
        count.
      - The connection is tried 3 times before the server counts as unreachable (an unreachable server runs no
        job, so one slow answer must not let a restart through).
    type: bool
    default: false
  job_guard_timeout:
    description: The guard's waiting time in seconds, only quoted in RV(job_guard)'s message.
    type: int
    default: 0
  disable_clients:
    description:
      - Client names to disable at the server with NVFLARE's own C(disable_client) admin command - the server
        drops the client's session, refuses its registration and heartbeats from then on, and keeps the list
        across restarts in C(disabled_clients.json) of its workspace. A name already disabled is no change.
      - Needs a reachable server, and NVFLARE 2.8 or later (an older FLARE API fails with C(error=unsupported)).
    type: list
    elements: str
    default: []
  enable_clients:
    description:
      - Client names to enable again at the server (NVFLARE's C(enable_client)), for a removed client added back.
        A name that was not disabled is no change. Needs a reachable server.
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
    admin_kit: "{{ nvflare_workspace }}/admin/admin@nvidia.com"
    # the client site names exactly as provisioning names them (nvflare_site_name, else the inventory name)
    expected_clients: "{{ (groups | edgefl.nvflare.participants(hostvars)).clients | map(attribute='name') | list }}"
    fail_unreachable: false
  delegate_to: localhost
  run_once: true
  register: fl_status
  until: fl_status.all_clients_connected
  retries: 30
  delay: 2

- name: Disable a removed client at the server (NVFLARE's disable_client; kept across server restarts)
  edgefl.nvflare.status:
    admin_kit: "{{ nvflare_workspace }}/admin/admin@nvidia.com"
    disable_clients: [site-3]
  delegate_to: localhost
  run_once: true

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
unknown_clients:
  description: Connected clients that O(expected_clients) does not list (empty when it is empty).
  returned: success
  type: list
  elements: str
  sample: ["site-3"]
certificates:
  description: Each certificate's expiry (root CA first by name C(rootCA)), with C(ok) false below O(cert_warn_days).
  returned: when O(certificates) or O(kits_dir) is given
  type: list
  elements: dict
  sample: [{"name": "site-1", "type": "client", "not_after": "2027-12-01T18:00:00Z", "days_left": 364, "ok": true}]
expiring_certificates:
  description: Names whose certificate expires in fewer than O(cert_warn_days) days (or has expired).
  returned: when O(certificates) or O(kits_dir) is given
  type: list
  elements: str
finishing_jobs:
  description:
    - Jobs whose process has ended but whose final status the server has not published yet (see O(job_guard)).
  returned: when O(job_guard=true) and the server is reachable
  type: list
  elements: str
  sample: ["c174f0d6"]
job_guard:
  description:
    - Whether a restart now would hit a running job - C(busy), C(job_ids) and a C(msg) that names the jobs and
      the override C(nvflare_allow_restart_during_job). An unreachable server is not busy. With O(job_guard=true),
      RV(finishing_jobs) count as running.
  returned: success
  type: dict
  sample: {"busy": true, "job_ids": ["c174f0d6"], "msg": "job(s) c174f0d6 still running on the server after 600s: ..."}
disabled:
  description: Names of O(disable_clients) that this run disabled (not already disabled).
  returned: when O(disable_clients) or O(enable_clients) is given
  type: list
  elements: str
enabled:
  description: Names of O(enable_clients) that were disabled and this run enabled.
  returned: when O(disable_clients) or O(enable_clients) is given
  type: list
  elements: str
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
  description:
    - Why the server could not be reached. The FLARE API gives the same words for every cause, so the module adds
      what one TCP connect and one TLS handshake with the admin kit's certificates find; a name that does not
      resolve, a refused or dropped port, or a server whose certificate another root CA signed.
  returned: when RV(reachable=false)
  type: str
error:
  description:
    - Kind of failure (C(unreachable), C(auth), C(admin_kit), C(unknown_clients)); C(unsupported) when
      O(disable_clients) or O(enable_clients) needs a FLARE API call the control node's NVFLARE lacks, and
      C(error) when the server could not disable or enable a client.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.edgefl.nvflare.plugins.module_utils._base import EdgeflModule
from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import NVFLARE_IMPORT_ERROR, SESSION_ARGUMENT_SPEC
from ansible_collections.edgefl.nvflare.plugins.module_utils._flare_status import get_status


class StatusModule(EdgeflModule):
    """Information only, except for disable_clients / enable_clients."""

    def run(self):
        result = get_status(self.module.params, check_mode=self.check_mode)
        self.set_changed(result.pop("changed", False))
        for warning in result.pop("warnings", []):
            self.module.warn(warning)
        self.add_result(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **SESSION_ARGUMENT_SPEC,
            expected_clients=dict(type="list", elements="str", default=[]),
            fail_unknown=dict(type="bool", default=True),
            certificates=dict(type="dict"),
            kits_dir=dict(type="path"),
            cert_warn_days=dict(type="int", default=30),
            job_guard=dict(type="bool", default=False),
            job_guard_timeout=dict(type="int", default=0),
            disable_clients=dict(type="list", elements="str", default=[]),
            enable_clients=dict(type="list", elements="str", default=[]),
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
