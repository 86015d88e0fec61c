# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: peers_needing_facts
short_description: The server and relays a limited run or the provisioning needs whose address comes from facts
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
  - With O(provision=true), the hosts the provisioning on the control node needs instead, that is the server and
    the relays, whose addresses go into the kits (the server certificate's host names, the listening host of a
    relay).
    C(playbooks/provision.yml) gathers their facts first, so every playbook provisions from the same addresses,
    whether or not it gathered facts before (C(site.yml) provisions before its deploy gathers them,
    C(playbooks/upgrade.yml) after). Otherwise each would issue a new server certificate and restart the clients.
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
  provision:
    description: List the server and relays provisioning needs (see above) instead of the peers of O(_input).
      O(_input) then names hosts to leave out (usually V([])).
    type: bool
    default: false
    version_added: 1.5.0
"""

EXAMPLES = r"""
- name: Gather the facts of the server and relays a --limit leaves out
  ansible.builtin.setup:
    gather_subset: [min, network]
  delegate_to: "{{ item }}"
  delegate_facts: true
  run_once: true
  loop: "{{ ansible_play_hosts_all | edgefl.nvflare.peers_needing_facts(groups, hostvars) }}"

- name: Gather the facts of the server and relays whose address goes into the kits
  ansible.builtin.setup:
    gather_subset: [min, network]
  delegate_to: "{{ item }}"
  delegate_facts: true
  loop: "{{ [] | edgefl.nvflare.peers_needing_facts(groups, hostvars, provision=true) }}"
"""

RETURN = r"""
_value:
  description: Inventory names outside the play, in inventory order (server, relays, clients); empty in a run
    that is not limited or whose addresses do not come from facts. With O(provision=true), the server and relays
    outside O(_input) whose address comes from facts not gathered yet.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.site import run


def peers_needing_facts(hosts, groups, hostvars, server_group="nvflare_server", client_group="nvflare_clients",
                        relay_group="nvflare_relays", provision=False):
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("edgefl.nvflare.peers_needing_facts: give a list of hosts, got %r" % (hosts,))
    if not isinstance(provision, bool):
        raise AnsibleFilterError("edgefl.nvflare.peers_needing_facts: provision must be true or false, got %r"
                                 % (provision,))

    def _hosts(inv):
        return inv.provision_peers_needing_facts(hosts) if provision else inv.peers_needing_facts(hosts)

    # not memoized: the facts it looks for are gathered between two calls in one run
    return run("peers_needing_facts", _hosts, groups, hostvars, server_group, client_group, relay_group)


class FilterModule:
    def filters(self):
        return {"peers_needing_facts": peers_needing_facts}
