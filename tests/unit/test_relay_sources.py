# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.relay_sources: who may reach a relay's port (role nvflare_firewall)."""

from __future__ import annotations

import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.relay_sources import FilterModule

relay_sources = FilterModule().filters()["relay_sources"]

GROUPS = {
    "nvflare_server": ["server1"],
    "nvflare_relays": ["relay-a", "relay-b"],
    "nvflare_clients": ["site-1", "site-2", "site-3", "site-4"],
}
HOSTVARS = {
    "server1": {"ansible_host": "192.0.2.10"},
    "relay-a": {"ansible_host": "192.0.2.20"},
    # chained behind relay-a, with its own address on the relay-a side
    "relay-b": {"ansible_host": "198.51.100.5", "nvflare_address": "10.1.0.2", "nvflare_relay": "relay-a"},
    "site-1": {"ansible_host": "10.1.0.11", "nvflare_relay": "relay-a"},
    "site-2": {"ansible_host": "10.1.0.11", "nvflare_relay": "relay-a"},  # same address: listed once
    "site-3": {"ansible_host": "2001:db8:0::13", "nvflare_relay": "relay-b"},
    "site-4": {"ansible_host": "192.0.2.14"},  # connects to the server
}


def _hv(**changes):
    hv = copy.deepcopy(HOSTVARS)
    for host, values in changes.items():
        hv[host].update(values)
    return hv


def test_clients_and_relays_behind_a_relay_in_inventory_order():
    assert relay_sources("relay-a", GROUPS, HOSTVARS) == ["10.1.0.2", "10.1.0.11"]


def test_ipv6_address_is_compressed():
    assert relay_sources("relay-b", GROUPS, HOSTVARS, fallback=["10.0.0.0/8"]) == ["2001:db8::13"]


@pytest.mark.parametrize("address", ["jetson-1.lan", "", None])
def test_an_address_that_is_no_ip_gives_the_fallback(address):
    hv = _hv(**{"site-1": {"ansible_host": address}})
    assert relay_sources("relay-a", GROUPS, hv, fallback=["10.1.0.0/16"]) == ["10.1.0.0/16"]
    assert relay_sources("relay-a", GROUPS, hv) == []


def test_nvflare_address_wins_over_ansible_host():
    hv = _hv(**{"site-1": {"nvflare_address": "10.9.9.9"}})
    assert relay_sources("relay-a", GROUPS, hv) == ["10.1.0.2", "10.9.9.9", "10.1.0.11"]


def test_nothing_behind_the_relay_gives_the_fallback():
    hv = _hv(**{"site-3": {"nvflare_relay": None}})
    assert relay_sources("relay-b", GROUPS, hv, fallback=["192.0.2.0/24"]) == ["192.0.2.0/24"]


def test_a_flat_host_has_nothing_behind_it():
    assert relay_sources("site-4", GROUPS, HOSTVARS) == []


@pytest.mark.parametrize("changes, message", [
    ({"site-1": {"nvflare_relay": "relay-x"}}, "not a host of the inventory group 'nvflare_relays'"),
    ({"relay-a": {"nvflare_relay": "relay-b"}}, "cycle"),
    ({"site-2": {"nvflare_relay": "site-2"}}, "points at the host itself"),
])
def test_inventory_errors_are_the_models(changes, message):
    with pytest.raises(AnsibleFilterError, match=message):
        relay_sources("relay-a", GROUPS, _hv(**changes))


def test_the_addresses_are_what_ufw_state_confirms_without_running_ufw():
    """A source as relay_sources writes it matches the line `ufw status verbose` prints for that rule."""
    from ansible_collections.edgefl.nvflare.plugins.filter.ufw_state import _status_has_rule

    for source in relay_sources("relay-a", GROUPS, HOSTVARS) + relay_sources("relay-b", GROUPS, HOSTVARS):
        line = "8102/tcp                   ALLOW IN    %s                 # edgefl nvflare 8102" % source
        assert _status_has_rule([line], "8102", source, "edgefl nvflare 8102", True)
