# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: relay_sources
short_description: The source networks a relay's port is opened to, from the inventory
version_added: 0.2.0
positional: _input, groups, hostvars
author:
  - edgefl maintainers (@edgefl)
description:
  - For a relay host (group O(relay_group)), the source addresses of the hosts behind it - the clients and relays
    whose C(nvflare_relay) names it - in inventory order without duplicates. Each is one IP address (a C(/32) or
    C(/128) network) written without the prefix length, the way C(ufw status) prints such a rule, so that the
    firewall role can confirm the rule is in place without running C(ufw).
  - On a host that is not a relay the result is O(fallback) (nothing connects to it through C(nvflare_relay)).
  - Their address is the inventory model's (C(nvflare_address), else C(ansible_host); see
    P(edgefl.nvflare.site#filter)). When one of them has no address or a host name instead of an IP address, or
    when nothing is behind the relay, the result is O(fallback) (the role's C(nvflare_firewall_source_cidrs);
    empty means any source).
  - Used by the default of C(nvflare_firewall_relay_source_cidrs) (role edgefl.nvflare.nvflare_firewall).
extends_documentation_fragment:
  - edgefl.nvflare.inventory_groups
options:
  _input:
    description: The relay host, usually C(inventory_hostname).
    type: str
    required: true
  groups:
    description: The C(groups) magic variable.
    type: dict
    required: true
  fallback:
    description: What to return when the sources cannot all be told from the inventory.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Show who may reach this relay's port
  ansible.builtin.debug:
    msg: "{{ inventory_hostname | edgefl.nvflare.relay_sources(groups, hostvars, fallback=['10.0.0.0/8']) }}"
"""

RETURN = r"""
_value:
  description: Source addresses, for example V([192.0.2.21, 2001:db8::13]); O(fallback) when an
    address behind the relay is unknown or not an IP address, or nothing is behind it.
  type: list
  elements: str
"""

import ipaddress

from ansible_collections.edgefl.nvflare.plugins.filter.site import run


def _sources(inv, host, fallback):
    if inv.role(host) != "relay":
        # nothing dials a client or the server through nvflare_relay; and every host of a large fleet reads
        # this default, so only a relay looks at the others' variables
        return list(fallback)
    hosts = inv.relay_hosts() + inv.client_hosts()
    for h in hosts:
        inv.chain(h)  # refuses an unknown relay, a cycle, a relay pointing at itself
    behind = [h for h in hosts if inv.upstream(h) == host]
    if not behind:
        return list(fallback)
    out = []
    for child in behind:
        address = inv.address(child)
        try:
            ip = ipaddress.ip_address(str(address).strip("[]")) if address else None
        except ValueError:
            ip = None
        if ip is None:
            return list(fallback)
        if ip.compressed not in out:
            out.append(ip.compressed)
    return out


def relay_sources(host, groups, hostvars, fallback=None, server_group="nvflare_server",
                  client_group="nvflare_clients", relay_group="nvflare_relays"):
    """relay host -> the addresses of the hosts behind it (or fallback)."""
    fallback = list(fallback or [])
    return run("relay_sources", lambda inv: _sources(inv, str(host), fallback), groups, hostvars, server_group,
               client_group, relay_group, key=(str(host), tuple(str(f) for f in fallback)))


class FilterModule:
    def filters(self):
        return {"relay_sources": relay_sources}
