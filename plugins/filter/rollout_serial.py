# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: rollout_serial
short_description: The serial batches of a play that deploys the server and relays, then the clients in batches
version_added: 1.1.0
positional: _input, groups, hosts
author:
  - edgefl maintainers (@edgefl)
description:
  - Turns C(nvflare_rollout_batch) (a count of clients, a percentage of the clients such as C(25%), or C(all))
    into the value of the C(serial) play keyword for a play whose hosts are the server, the relays and the
    clients, in that order.
  - The first batch holds the server, every relay and one batch of clients; every later batch holds one batch
    of clients. C(all) gives one batch with every host (the behaviour without C(serial)).
options:
  _input:
    description: The batch size; a count, a percentage of the clients (C(25%)) or C(all).
    type: raw
    required: true
  groups:
    description: The C(groups) magic variable; the clients are C(nvflare_clients), the others C(nvflare_server)
      and C(nvflare_relays).
    type: dict
    required: true
  hosts:
    description:
      - The hosts the play runs on (C(ansible_play_hosts_all), which a play keyword sees with C(--limit) and the
        play pattern's exclusions applied). Only these are counted, so a play that skips hosts in sync, or a
        C(--limit) to some clients, still restarts one batch of clients at a time.
      - Without it every host of the groups is counted.
    type: list
    elements: str
    version_added: 1.5.0
"""

EXAMPLES = r"""
- name: Deploy the clients two at a time
  hosts: nvflare_server:nvflare_relays:nvflare_clients
  serial: "{{ nvflare_rollout_batch | default('all') | edgefl.nvflare.rollout_serial(groups, ansible_play_hosts_all) }}"
  tasks: []
"""

RETURN = r"""
_value:
  description: Batch sizes for C(serial); Ansible repeats the last one until every host ran.
  type: list
  elements: int
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.module_utils._quorum import QuorumError
from ansible_collections.edgefl.nvflare.plugins.module_utils._quorum import rollout_serial as _rollout_serial


def rollout_serial(batch, groups, hosts=None):
    groups = groups or {}
    clients = set(groups.get("nvflare_clients") or [])
    others = set(groups.get("nvflare_server") or []) | set(groups.get("nvflare_relays") or [])
    if hosts is not None:
        hosts = set(hosts)
        clients &= hosts
        others &= hosts
    try:
        return _rollout_serial(batch, len(clients - others), len(others))
    except QuorumError as e:
        raise AnsibleFilterError(str(e))


class FilterModule:
    def filters(self):
        return {"rollout_serial": rollout_serial}
