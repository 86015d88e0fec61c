# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: peers_needing_facts
short_description: The server and relays a limited run leaves out whose address comes from facts
version_added: 0.2.0
positional: _input, groups, hostvars
author:
  - edgefl maintainers (@edgefl)
description:
  - For the hosts of a play, the other federation members whose address one of them needs and which cannot be
    resolved yet, because the inventory takes it from facts (for example an C(nvflare_address) templated from
    C(ansible_facts.default_ipv4.address)) and that host's facts were not gathered.
  - A host needs the relays up its chain and the server (its hosts entry and its model); a relay also the hosts
    behind it (the sources its port is opened to, P(edgefl.nvflare.relay_sources#filter)); a host whose inventory
    sets C(nvflare_hosts_all_participants) every member.
  - A run limited with C(--limit) leaves those hosts out of the play, so their facts are never gathered;
    C(playbooks/deploy.yml) and C(playbooks/add_client.yml) gather them (C(delegate_facts)) before the roles'
    checks. Hosts whose address is a literal, or unset, are never listed.
extends_documentation_fragment:
  - edgefl.nvflare.inventory_groups
options:
  _input:
    description: The play's hosts, usually C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
  groups:
    description: The C(groups) magic variable.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Gather the facts of the server and relays a --limit leaves out
  ansible.builtin.setup:
    gather_subset: [min, network]
  delegate_to: "{{ item }}"
  delegate_facts: true
  run_once: true
  loop: "{{ ansible_play_hosts_all | edgefl.nvflare.peers_needing_facts(groups, hostvars) }}"
"""

RETURN = r"""
_value:
  description: Inventory names outside the play, in inventory order (server, relays, clients); empty in a run
    that is not limited or whose addresses do not come from facts.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.site import run


def peers_needing_facts(hosts, groups, hostvars, server_group="nvflare_server", client_group="nvflare_clients",
                        relay_group="nvflare_relays"):
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("edgefl.nvflare.peers_needing_facts: give a list of hosts, got %r" % (hosts,))
    # not memoized: the facts it looks for are gathered between two calls in one run
    return run("peers_needing_facts", lambda inv: inv.peers_needing_facts(hosts), groups, hostvars, server_group,
               client_group, relay_group)


class FilterModule:
    def filters(self):
        return {"peers_needing_facts": peers_needing_facts}
