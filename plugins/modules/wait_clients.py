#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: wait_clients
short_description: Wait until the clients of an NVIDIA FLARE federation have registered, with a quorum
version_added: 1.1.0
description:
  - Polls the server through the FLARE API (as M(edgefl.nvflare.status) does) until every client of
    O(expected_clients) is connected.
  - With O(min_clients) below the number of expected clients, a client that stays offline does not fail the
    wait. Once the quorum is reached the wait gives the others O(quorum_grace) more seconds, then succeeds and
    names the missing clients in RV(missing_clients) and RV(msg). It fails only when the quorum is not
    reached within O(timeout).
  - Run through its action plugin (the normal case), it prints a progress line (clients connected x/y,
    missing names) on every change and at least every 20 seconds, on the default callback, instead of a
    silent task or a row of retry lines.
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
    description: Client site names that should register (the inventory's clients).
    type: list
    elements: str
    required: true
  min_clients:
    description:
      - The quorum; a count, a percentage of O(expected_clients) (C(75%)) or V(all).
      - V(0) never fails on missing clients; after O(quorum_grace) the wait succeeds and names them.
    type: str
    default: all
  timeout:
    description: Seconds to wait for the quorum.
    type: int
    default: 180
  poll_interval:
    description: Seconds between polls.
    type: float
    default: 3
  quorum_grace:
    description:
      - Seconds (from the start of the wait) the missing clients still get once the quorum is reached.
    type: int
    default: 30
  jobs:
    description: Also list the most recent jobs in RV(jobs) (read once, at the end).
    type: bool
    default: false
  jobs_limit:
    description: How many recent jobs to list with O(jobs=true).
    type: int
    default: 10
  versions:
    description: Also ask every site for its nvflare version (RV(versions)), once at the end.
    type: bool
    default: false
seealso:
  - module: edgefl.nvflare.status
"""

EXAMPLES = r"""
- name: Wait until at least 3 clients are connected
  edgefl.nvflare.wait_clients:
    admin_kit: /home/me/nvflare-ws/admin/admin@nvidia.com
    expected_clients: [site-1, site-2, site-3, site-4]
    min_clients: 3
    timeout: 180
  register: fl_wait

- name: Name the clients that stayed offline
  ansible.builtin.debug:
    msg: "{{ fl_wait.msg }}"
"""

RETURN = r"""
msg:
  description: "One line, for example C(3/4 clients connected (quorum 3\\); missing: site-2)."
  returned: always
  type: str
quorum_reached:
  description: At least O(min_clients) expected clients are connected.
  returned: always
  type: bool
min_clients:
  description: The quorum as a number of clients.
  returned: always
  type: int
connected_clients:
  description: Expected clients that are connected.
  returned: always
  type: list
  elements: str
missing_clients:
  description: Expected clients that are not connected.
  returned: always
  type: list
  elements: str
all_clients_connected:
  description: Every expected client is connected.
  returned: always
  type: bool
waited:
  description: Seconds the wait took.
  returned: always
  type: float
reachable:
  description: As M(edgefl.nvflare.status) returns it, from the last poll; so are RV(server), RV(clients),
    RV(client_names), RV(running_jobs), RV(jobs) and RV(versions).
  returned: always
  type: bool
server:
  description: Server state from the last poll.
  returned: always
  type: dict
clients:
  description: Connected clients from the last poll.
  returned: always
  type: list
  elements: dict
client_names:
  description: Names of the connected clients.
  returned: always
  type: list
  elements: str
running_jobs:
  description: Jobs running on the server.
  returned: always
  type: list
  elements: dict
jobs:
  description: Most recent jobs, newest first.
  returned: when O(jobs=true)
  type: list
  elements: dict
versions:
  description: Site name to nvflare version.
  returned: when O(versions=true)
  type: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.edgefl.nvflare.plugins.module_utils._base import EdgeflModule, ModuleError
from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import NVFLARE_IMPORT_ERROR, SESSION_ARGUMENT_SPEC
from ansible_collections.edgefl.nvflare.plugins.module_utils._flare_status import get_status
from ansible_collections.edgefl.nvflare.plugins.module_utils._quorum import (
    QuorumError,
    failure_msg,
    quorum,
    wait_decision,
    wait_result,
)

ARGUMENT_SPEC = dict(
    **SESSION_ARGUMENT_SPEC,
    expected_clients=dict(type="list", elements="str", required=True),
    min_clients=dict(type="str", default="all"),
    timeout=dict(type="int", default=180),
    poll_interval=dict(type="float", default=3.0),
    quorum_grace=dict(type="int", default=30),
    jobs=dict(type="bool", default=False),
    jobs_limit=dict(type="int", default=10),
    versions=dict(type="bool", default=False),
)


def outcome(status, params, waited):
    return wait_result(status, params["expected_clients"], params["min_clients"], waited)


class WaitClientsModule(EdgeflModule):
    def run(self):
        params = self.module.params
        if params["timeout"] < 0 or params["poll_interval"] <= 0:
            raise ModuleError("timeout must be >= 0 and poll_interval > 0", field="timeout")
        try:
            quorum(params["expected_clients"], [], params["min_clients"])
        except QuorumError as e:
            raise ModuleError(str(e), field="min_clients")
        poll = dict(params, fail_unreachable=False, jobs=False, versions=False)
        start = time.monotonic()
        while True:
            status = get_status(poll)
            waited = time.monotonic() - start
            q, res = outcome(status, params, waited)
            decision = wait_decision(q, waited, params["timeout"], params["quorum_grace"])
            if decision != "wait":
                break
            time.sleep(params["poll_interval"])
        if params["jobs"] or params["versions"]:
            q, res = outcome(get_status(dict(params, fail_unreachable=False)), params, waited)
        if decision == "fail" or not q["ok"]:
            raise ModuleError(failure_msg(q, waited), **res)
        self.add_result(**res)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if NVFLARE_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("nvflare"), exception=NVFLARE_IMPORT_ERROR)
    WaitClientsModule(module).execute()


if __name__ == "__main__":
    main()
