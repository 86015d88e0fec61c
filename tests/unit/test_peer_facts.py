# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.peers_needing_facts and nvflare_common's peer_facts: a run limited to a client, on an inventory that
takes the server's address from facts, gathers the server's facts, so the client's hosts entry has its address."""

from __future__ import annotations

import sys

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgefl.nvflare.plugins.filter.peers_needing_facts import peers_needing_facts
from conftest import flat, run_playbook
from jinja2 import Undefined

PENDING = Undefined(name="ansible_facts")  # what a template over facts not gathered yet gives


def fleet(**overrides):
    groups = {"nvflare_server": ["srv"], "nvflare_relays": ["relay-1"],
              "nvflare_clients": ["site-1", "site-2", "site-3"]}
    hostvars = {"srv": {"nvflare_address": PENDING}, "relay-1": {"nvflare_address": PENDING},
                "site-1": {"nvflare_address": PENDING},
                "site-2": {"nvflare_address": PENDING, "nvflare_relay": "relay-1"},
                "site-3": {"ansible_host": "192.0.2.13", "nvflare_relay": "relay-1"}}
    for host, values in overrides.items():
        hostvars[host] = dict(hostvars[host], **values)
    return groups, hostvars


def test_a_client_needs_the_server_and_its_relays():
    groups, hostvars = fleet()
    assert peers_needing_facts(["site-1"], groups, hostvars) == ["srv"]
    assert peers_needing_facts(["site-2"], groups, hostvars) == ["srv", "relay-1"]


def test_a_relay_needs_the_hosts_behind_it_that_have_no_address_yet():
    groups, hostvars = fleet()
    # site-3's address is a literal: never gathered
    assert peers_needing_facts(["relay-1"], groups, hostvars) == ["srv", "site-2"]


def test_hosts_in_the_play_and_literal_addresses_are_left_alone():
    groups, hostvars = fleet()
    assert peers_needing_facts(["srv", "relay-1", "site-1", "site-2", "site-3"], groups, hostvars) == []
    relay = {"nvflare_address": None, "ansible_host": "192.0.2.2"}
    groups, hostvars = fleet(srv={"nvflare_address": "192.0.2.1"}, **{"relay-1": relay})
    assert peers_needing_facts(["site-2"], groups, hostvars) == []


def test_gathered_facts_end_the_need():
    groups, hostvars = fleet(srv={"nvflare_address": "192.0.2.1"})
    assert peers_needing_facts(["site-1"], groups, hostvars) == []


def test_all_participants_needs_every_member():
    groups, hostvars = fleet(**{"site-3": {"nvflare_hosts_all_participants": "yes"}})
    assert peers_needing_facts(["site-3"], groups, hostvars) == ["srv", "relay-1", "site-1", "site-2"]


def test_bad_input_is_a_filter_error():
    groups, hostvars = fleet()
    with pytest.raises(AnsibleFilterError, match="give a list of hosts"):
        peers_needing_facts("site-1", groups, hostvars)
    groups["nvflare_server"].append("site-9")
    with pytest.raises(AnsibleFilterError, match="must hold exactly one host"):
        peers_needing_facts(["site-1"], groups, hostvars)


PLAY = """
- hosts: nvflare_clients
  gather_facts: true
  gather_subset: [min]
  tasks:
    - ansible.builtin.import_role:
        name: edgefl.nvflare.nvflare_common
        tasks_from: peer_facts
      when: with_peer_facts | bool
    - ansible.builtin.include_role:
        name: edgefl.nvflare.nvflare_hosts
        tasks_from: checks
    - ansible.builtin.debug:
        msg: "server address {{ (inventory_hostname | edgefl.nvflare.site(groups, hostvars)).parent.address }}"
"""


@pytest.mark.parametrize("with_peer_facts", [True, False])
def test_a_run_limited_to_a_client_learns_the_server_address(tmp_path, with_peer_facts):
    """Both hosts are this machine (local connection); the server's address is read from its facts. Limited to
    site-1, the hosts role's check knows the server's address only after peer_facts gathered them; without it, the
    check fails as deploy.yml did before."""
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "hosts.yml").write_text(
        "all:\n"
        "  vars:\n"
        "    ansible_connection: local\n"
        "    ansible_python_interpreter: %s\n"
        "  children:\n"
        "    nvflare_server:\n"
        "      hosts:\n"
        "        srv:\n"
        # ansible_facts.system is in the min subset: undefined until this host's facts are gathered
        "          nvflare_address: \"{{ '192.0.2.10' if ansible_facts.system else '' }}\"\n"
        "    nvflare_clients:\n"
        "      hosts:\n"
        "        site-1: {nvflare_address: 192.0.2.11}\n"
        "        site-2: {nvflare_address: 192.0.2.12}\n" % sys.executable)
    proc = run_playbook(tmp_path, "-i", "hosts.yml", "play.yml", "--limit", "site-1",
                        "-e", "with_peer_facts=%s" % with_peer_facts)
    out = flat(proc.stdout)
    if with_peer_facts:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "server address 192.0.2.10" in out, out
        assert "ok: [site-1 -> srv]" in out, out
    else:
        assert proc.returncode != 0, out
        assert "hold invalid entries: srv (got address srv)" in out, out
        # and how a host reached by a name gets an address
        assert 'can take its address from its facts instead: nvflare_address: "{{ ansible_facts.default_ipv4.address }}"' in out, out


def test_provisioning_needs_the_server_and_relays_whose_address_comes_from_facts():
    # the clients' addresses go into no kit; site-3's is a literal anyway
    groups, hostvars = fleet()
    assert peers_needing_facts([], groups, hostvars, provision=True) == ["srv", "relay-1"]
    assert peers_needing_facts(["srv"], groups, hostvars, provision=True) == ["relay-1"]
    groups, hostvars = fleet(srv={"nvflare_address": "192.0.2.1"}, **{"relay-1": {"nvflare_address": "192.0.2.2"}})
    assert peers_needing_facts([], groups, hostvars, provision=True) == []


def test_provision_must_be_a_bool():
    groups, hostvars = fleet()
    with pytest.raises(AnsibleFilterError, match="provision must be true or false, got 'yes'"):
        peers_needing_facts([], groups, hostvars, provision="yes")
