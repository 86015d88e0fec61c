# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The edgefl.nvflare.participants filter: inventory -> provision module input."""

from __future__ import annotations

import copy
import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.participants import FilterModule
from ansible_collections.edgefl.nvflare.plugins.modules.provision import main

participants = FilterModule().filters()["participants"]

GROUPS = {
    "all": ["fl-server", "jetson-1", "jetson-2"],
    "nvflare_server": ["fl-server"],
    "nvflare_clients": ["jetson-1", "jetson-2"],
}
HOSTVARS = {
    "fl-server": {"ansible_host": "192.0.2.10"},
    "jetson-1": {"ansible_host": "192.0.2.11"},
    "jetson-2": {"ansible_host": "jetson-2.lan", "nvflare_site_name": "lab-b-1", "nvflare_org": "lab_b"},
}


def inv(groups=None, **hostvar_updates):
    hv = copy.deepcopy(HOSTVARS)
    for host, values in hostvar_updates.items():
        hv.setdefault(host.replace("_", "-"), {}).update(values)
    return copy.deepcopy(groups or GROUPS), hv


def test_defaults():
    out = participants(*inv())
    assert out == {
        "project_name": "edgefl",
        "org": "nvidia",
        "server": {"name": "fl-server", "org": "nvidia", "host": "192.0.2.10", "host_names": ["192.0.2.10"]},
        "relays": [],
        "clients": [
            {"name": "jetson-1", "org": "nvidia", "host": "192.0.2.11"},
            {"name": "lab-b-1", "org": "lab_b", "host": "jetson-2.lan"},
        ],
        "admins": [{"name": "admin@nvidia.com", "org": "nvidia", "role": "project_admin"}],
    }


@pytest.mark.parametrize("server_vars, expected", [
    ({"nvflare_site_name": "server.example.com"}, {"name": "server.example.com"}),
    ({"ansible_host": "fl.example.com"}, {"host": "fl.example.com", "host_names": None}),
    ({"ansible_host": "2001:db8::1"}, {"host_names": ["2001:db8::1"]}),
    ({"nvflare_fed_learn_port": 9002}, {"fed_learn_port": 9002, "admin_port": None}),
    ({"nvflare_fed_learn_port": "8002", "nvflare_admin_port": "8002"}, {"fed_learn_port": 8002, "admin_port": 8002}),
    ({"nvflare_org": "lab_a"}, {"org": "lab_a"}),
])
def test_server(server_vars, expected):
    server = participants(*inv(fl_server=server_vars))["server"]
    for key, value in expected.items():
        assert server.get(key) == value, key


def test_federation_vars_from_group_vars():
    fed = {"nvflare_project_name": "fleet", "nvflare_org": "acme",
           "nvflare_admins": [{"name": "ops@acme.com", "role": "lead"}, {"name": "x@acme.com", "org": "other"}]}
    out = participants(*inv(fl_server=fed, jetson_1={"nvflare_org": "acme"}))
    assert out["project_name"] == "fleet" and out["org"] == "acme"
    assert out["clients"][0]["org"] == "acme"
    assert out["clients"][1]["org"] == "lab_b"
    assert out["admins"] == [{"name": "ops@acme.com", "org": "acme", "role": "lead"},
                             {"name": "x@acme.com", "org": "other", "role": "project_admin"}]


def test_no_clients_group():
    groups = {"nvflare_server": ["fl-server"]}
    assert participants(*inv(groups=groups))["clients"] == []


def test_custom_group_names():
    groups = {"fl": ["fl-server"], "devices": ["jetson-1"]}
    out = participants(*inv(groups=groups), server_group="fl", client_group="devices")
    assert out["server"]["name"] == "fl-server" and [c["name"] for c in out["clients"]] == ["jetson-1"]


@pytest.mark.parametrize("groups, hostvars, text", [
    ({"nvflare_clients": ["jetson-1"]}, {}, "'nvflare_server' must hold exactly one host"),
    ({"nvflare_server": [], "nvflare_clients": []}, {}, "it holds none"),
    # an inventory Ansible could not parse (skipped with a warning) or a wrong -i path: no hosts at all
    ({"all": [], "ungrouped": []}, {}, "the inventory has no hosts at all: check the -i path"),
    ({"nvflare_server": ["fl-server", "jetson-1"]}, {}, "it holds 2: fl-server, jetson-1"),
    ({"nvflare_server": ["fl-server"], "nvflare_clients": ["fl-server"]}, {}, "in both"),
    (None, {"fl-server": {"nvflare_admins": {"name": "a@b.com"}}}, "nvflare_admins must be a list"),
    (None, {"fl-server": {"nvflare_admins": [{"role": "lead"}]}}, "nvflare_admins[0]"),
    (None, {"fl-server": {"nvflare_admin_port": "eighty"}}, "nvflare_admin_port must be a TCP port number"),
    (None, {"fl-server": {"ansible_host": "10.0.0.300"}}, "hostvars[fl-server].nvflare_address (else ansible_host)"),
    ({"nvflare_server": ["ghost"]}, {}, "'ghost' is in a group but not in hostvars"),
])
def test_errors(groups, hostvars, text):
    g, hv = inv(groups=groups)
    for host, values in hostvars.items():
        hv[host].update(values)
    with pytest.raises(AnsibleFilterError) as exc:
        participants(g, hv)
    assert text in str(exc.value)


def test_input_must_be_groups():
    with pytest.raises(AnsibleFilterError, match="must be the 'groups' variable"):
        participants(["fl-server"], HOSTVARS)


def test_filter_output_provisions(tmp_path, run_module):
    """The filter's output is valid module input: real provisioning with it."""
    out = participants(*inv())
    args = {"workspace": str(tmp_path / "ws"), "project_name": out["project_name"], "org": out["org"],
            "server": out["server"], "clients": out["clients"], "admins": out["admins"]}
    result = run_module(main, args)
    assert result["changed"] is True
    assert sorted(result["kits"]) == ["admin@nvidia.com", "fl-server", "jetson-1", "lab-b-1"]
    assert os.path.isfile(os.path.join(result["kits"]["lab-b-1"], "startup", "client.key"))
    hosts = dict((p["name"], p.get("host")) for p in result["participants"])
    assert hosts["jetson-1"] == "192.0.2.11" and hosts["fl-server"] == "192.0.2.10"
    assert run_module(main, args)["changed"] is False


# ---------------------------------------------------------------- relays

RELAY_GROUPS = {
    "all": ["fl-server", "relay-a", "relay-b", "jetson-1", "jetson-2", "jetson-3"],
    "nvflare_server": ["fl-server"],
    "nvflare_relays": ["relay-a", "relay-b"],
    "nvflare_clients": ["jetson-1", "jetson-2", "jetson-3"],
}
RELAY_HOSTVARS = {
    "fl-server": {"ansible_host": "192.0.2.10"},
    "relay-a": {"ansible_host": "192.0.2.20"},
    "relay-b": {"ansible_host": "relay-b.lan", "nvflare_site_name": "relay-lab-b", "nvflare_org": "lab_b",
                "nvflare_relay": "relay-a", "nvflare_relay_port": 9102},
    "jetson-1": {"ansible_host": "10.1.0.11", "nvflare_relay": "relay-a"},
    "jetson-2": {"ansible_host": "10.2.0.12", "nvflare_relay": "relay-b"},
    "jetson-3": {"ansible_host": "192.0.2.13"},
}


def relay_inv(**updates):
    hv = copy.deepcopy(RELAY_HOSTVARS)
    for host, values in updates.items():
        hv[host.replace("_", "-")].update(values)
    return copy.deepcopy(RELAY_GROUPS), hv


def test_relays():
    out = participants(*relay_inv())
    assert out["relays"] == [
        {"name": "relay-a", "org": "nvidia", "host": "192.0.2.20", "port": 8102},
        {"name": "relay-lab-b", "org": "lab_b", "host": "relay-b.lan", "port": 9102, "connect_to": "relay-a"},
    ]
    assert out["clients"] == [
        {"name": "jetson-1", "org": "nvidia", "host": "10.1.0.11", "connect_to": "relay-a"},
        {"name": "jetson-2", "org": "nvidia", "host": "10.2.0.12", "connect_to": "relay-lab-b"},
        {"name": "jetson-3", "org": "nvidia", "host": "192.0.2.13"},
    ]


def test_relay_without_address_has_no_host():
    g, hv = relay_inv()
    del hv["relay-a"]["ansible_host"]
    assert participants(g, hv)["relays"][0] == {"name": "relay-a", "org": "nvidia", "port": 8102}


def test_custom_relay_group():
    g, hv = relay_inv()
    g["edge_relays"] = g.pop("nvflare_relays")
    out = participants(g, hv, relay_group="edge_relays")
    assert [r["name"] for r in out["relays"]] == ["relay-a", "relay-lab-b"]


@pytest.mark.parametrize("updates, groups, text", [
    ({"jetson_1": {"nvflare_relay": "relay-x"}}, None,
     "hostvars[jetson-1].nvflare_relay='relay-x' is not a host of the inventory group 'nvflare_relays'"),
    ({"relay_a": {"nvflare_relay": "relay-b"}}, None, "the relays form a cycle through nvflare_relay"),
    ({"relay_a": {"nvflare_relay": "relay-a"}}, None, "hostvars[relay-a].nvflare_relay points at the host itself"),
    ({"relay_b": {"ansible_host": "192.0.2.20", "nvflare_relay_port": 8102}}, None,
     "relays 'relay-a' and 'relay-b' both listen on 192.0.2.20:8102"),
    ({"relay_b": {"nvflare_relay_port": 0}}, None, "nvflare_relay_port must be a TCP port number"),
    ({"jetson_3": {"nvflare_site_name": "relay-a"}}, None, "the same site name 'relay-a'"),
    ({}, {"nvflare_clients": ["jetson-1", "relay-a"]}, "host 'relay-a' is in both 'nvflare_relays' and"),
    ({"fl_server": {"nvflare_relay": "relay-a"}}, None, "the server connects to no relay"),
])
def test_relay_errors(updates, groups, text):
    g, hv = relay_inv(**updates)
    g.update(groups or {})
    with pytest.raises(AnsibleFilterError) as exc:
        participants(g, hv)
    assert text in str(exc.value)


def test_relay_filter_output_provisions(tmp_path, run_module):
    """A relay inventory's filter output is valid module input; the kits route through the relays."""
    import json

    out = participants(*relay_inv())
    args = {"workspace": str(tmp_path / "ws"), "project_name": out["project_name"], "org": out["org"],
            "server": out["server"], "relays": out["relays"], "clients": out["clients"], "admins": out["admins"]}
    result = run_module(main, args)
    assert result["changed"] is True, result
    assert sorted(result["kits"]) == ["admin@nvidia.com", "fl-server", "jetson-1", "jetson-2", "jetson-3",
                                      "relay-a", "relay-lab-b"]

    def relay_config(name):
        with open(os.path.join(result["kits"][name], "local", "relay__resources.json")) as f:
            return json.load(f)["relay_config"]

    assert relay_config("jetson-1")["address"] == "192.0.2.20:8102"
    assert relay_config("jetson-2")["address"] == "relay-b.lan:9102"
    with open(os.path.join(result["kits"]["relay-lab-b"], "startup", "fed_relay.json")) as f:
        assert json.load(f)["connect_to"]["address"] == "192.0.2.20:8102"
    with open(os.path.join(result["kits"]["relay-a"], "startup", "fed_relay.json")) as f:
        assert json.load(f)["connect_to"]["address"] == "fl-server:8002"
    assert run_module(main, args)["changed"] is False
