# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The federation model (plugin_utils/_model.py) through the site and federation filters: every row of the
inventory contract."""

from __future__ import annotations

import copy
import os
import sys

import jinja2
import pytest
from ansible.errors import AnsibleError, AnsibleFilterError, AnsibleUndefinedVariable

from ansible_collections.edgefl.nvflare.plugins.filter.federation import FilterModule as FederationFilters
from ansible_collections.edgefl.nvflare.plugins.filter.site import FilterModule as SiteFilters
from ansible_collections.edgefl.nvflare.plugins.plugin_utils._model import REMOVED_IN, Inventory
from conftest import ROOT, run_playbook

site = SiteFilters().filters()["site"]
federation = FederationFilters().filters()["federation"]

GROUPS = {
    "all": ["server1", "site-1", "site-2"],
    "nvflare_server": ["server1"],
    "nvflare_clients": ["site-1", "site-2"],
}
FED = {"nvflare_workspace": "/ws/fed", "nvflare_project_name": "proj"}
HOSTVARS = {
    "server1": dict(FED, ansible_host="192.0.2.10"),
    "site-1": dict(FED, ansible_host="192.0.2.11"),
    "site-2": dict(FED, ansible_host="jetson-2.lan", nvflare_site_name="lab-b-1", nvflare_org="lab_b"),
    "localhost": dict(FED),
}


class Undefined:
    """A hostvars value whose template cannot be resolved here (Ansible raises on access)."""

    def __init__(self, name="ansible_facts"):
        self.name = name


class FakeHostVars(dict):
    """hostvars whose Undefined values raise like Ansible's HostVars does."""

    def __getitem__(self, host):
        return FakeHostVarsVars(dict.__getitem__(self, host))


class FakeHostVarsVars(dict):
    def __getitem__(self, key):
        value = dict.__getitem__(self, key)
        if isinstance(value, Undefined):
            raise AnsibleUndefinedVariable("'%s' is undefined" % value.name)
        return value


def inv(groups=None, **updates):
    hv = copy.deepcopy(HOSTVARS)
    for host, values in updates.items():
        hv.setdefault(host.replace("_", "-"), {}).update(values)
    return copy.deepcopy(groups or GROUPS), FakeHostVars(hv)


def test_server_site():
    groups, hv = inv()
    assert site("server1", groups, hv) == {
        "host": "server1", "role": "server", "member": True, "site_name": "server1", "org": "nvidia",
        "address": "192.0.2.10", "kit_dir": "/ws/fed/proj/kits/server1", "unit": "nvflare-server.service",
        "root_ca_files": ["/ws/fed/proj/kits/server1/startup/rootCA.pem", "/ws/fed/proj/state/cert.json",
                          "/ws/fed/proj/prod_*/server1/startup/rootCA.pem", "/ws/fed/proj/state/retired/*/rootCA.pem"],
        "ports": {"fed_learn": 8002, "admin": 8003}, "project_name": "proj", "workspace": "/ws/fed",
        "server": {"host": "server1", "site_name": "server1", "org": "nvidia", "address": "192.0.2.10"},
        "parent": None, "path": ["server1"], "upstream_hosts": [],
        "host_paths": {"root": "/var/lib/nvflare", "workspace": "/var/lib/nvflare/server1",
                       "storage": "/var/lib/nvflare/storage", "venv": "/opt/nvflare/venv", "user": "nvflare"},
    }


def test_client_site_with_name_and_org():
    out = site("site-2", *inv())
    assert (out["role"], out["site_name"], out["org"], out["address"], out["kit_dir"], out["unit"]) == (
        "client", "lab-b-1", "lab_b", "jetson-2.lan", "/ws/fed/proj/kits/lab-b-1", "nvflare-client.service")
    assert out["server"]["site_name"] == "server1"


@pytest.mark.parametrize("host, groups, role, member", [
    ("server1", None, "server", True),
    ("site-1", None, "client", True),
    ("other", {"all": ["other"], "nvflare_server": ["server1"], "nvflare_clients": []}, "client", False),
    ("other", {"all": ["other"]}, "client", False),
])
def test_role_and_membership(host, groups, role, member):
    g, hv = inv(groups=groups, other={})
    out = site(host, g, hv)
    assert (out["role"], out["member"]) == (role, member)


@pytest.mark.parametrize("host_vars, expected", [
    ({"nvflare_address": "10.0.0.5"}, "10.0.0.5"),                      # the contract's name wins
    ({"nvflare_address": "10.0.0.5", "ansible_host": "x"}, "10.0.0.5"),
    ({}, "192.0.2.11"),                                                 # else ansible_host
    ({"ansible_host": None}, None),                                    # else unknown
    ({"ansible_host": ""}, None),
    ({"nvflare_address": Undefined()}, "192.0.2.11"),                  # facts not gathered here: next source
    ({"nvflare_address": Undefined(), "ansible_host": Undefined()}, None),
    # ansible-core 2.19 returns a marker (a jinja2 Undefined) instead of raising
    ({"nvflare_address": jinja2.StrictUndefined(name="ansible_facts")}, "192.0.2.11"),
])
def test_address_chain(host_vars, expected):
    g, hv = inv(site_1=host_vars)
    assert site("site-1", g, hv)["address"] == expected


def test_deprecated_address_name_is_read_and_reported():
    g, hv = inv(site_1={"nvflare_hosts_address": "10.0.0.7"})
    inventory = Inventory(g, hv)
    assert inventory.site("site-1")["address"] == "10.0.0.7"
    assert ("nvflare_hosts_address", "nvflare_address", "site-1") in inventory.deprecations
    # the new name wins over the old one, and then nothing is deprecated
    g, hv = inv(site_1={"nvflare_hosts_address": "10.0.0.7", "nvflare_address": "10.0.0.8"})
    inventory = Inventory(g, hv)
    assert inventory.site("site-1")["address"] == "10.0.0.8"
    assert inventory.deprecations == []


def test_deprecation_warning_is_shown(monkeypatch):
    shown = []
    from ansible.utils.display import Display
    monkeypatch.setattr(Display, "deprecated", lambda self, msg, **kw: shown.append((msg, kw)))
    g, hv = inv(server1={"nvflare_admin_port": 9003})
    assert site("site-1", g, hv)["ports"] == {"fed_learn": 8002, "admin": 9003}
    assert len(shown) == 1
    assert "nvflare_admin_port is deprecated: rename it to nvflare_server_admin_port" in shown[0][0]
    assert shown[0][1]["collection_name"] == "edgefl.nvflare"
    assert shown[0][1]["version"] == REMOVED_IN  # the filter writes it as a literal for sanity


@pytest.mark.parametrize("server_vars, ports", [
    ({}, {"fed_learn": 8002, "admin": 8003}),
    ({"nvflare_fed_learn_port": "9002"}, {"fed_learn": 9002, "admin": 8003}),
    ({"nvflare_server_admin_port": 9003}, {"fed_learn": 8002, "admin": 9003}),
    ({"nvflare_server_admin_port": 9003, "nvflare_admin_port": 1}, {"fed_learn": 8002, "admin": 9003}),
])
def test_ports_are_federation_wide(server_vars, ports):
    g, hv = inv(server1=server_vars)
    assert site("site-1", g, hv)["ports"] == ports
    assert site("server1", g, hv)["ports"] == ports


def test_kit_dir_without_workspace_is_empty_and_trailing_slash_is_dropped():
    g, hv = inv(server1={"nvflare_workspace": None})
    assert site("server1", g, hv)["kit_dir"] == ""
    assert site("server1", g, hv)["root_ca_files"] == []
    g, hv = inv(server1={"nvflare_workspace": "/ws/x/"})
    assert site("site-1", g, hv)["kit_dir"] == "/ws/x/proj/kits/site-1"
    assert site("site-1", g, hv)["root_ca_files"][0] == "/ws/x/proj/kits/site-1/startup/rootCA.pem"


def test_workspace_under_home_is_expanded(monkeypatch):
    monkeypatch.setenv("HOME", "/home/op")
    g, hv = inv(server1={"nvflare_workspace": "~/fl"})
    assert site("site-1", g, hv)["kit_dir"] == "/home/op/fl/proj/kits/site-1"


def test_site_name_and_role_overrides_carry_kit_dir_and_unit():
    g, hv = inv()
    out = site("site-1", g, hv, site_name="site-9", role="server")
    assert (out["site_name"], out["kit_dir"], out["role"], out["unit"]) == (
        "site-9", "/ws/fed/proj/kits/site-9", "server", "nvflare-server.service")
    with pytest.raises(AnsibleFilterError, match="role must be 'server', 'client' or 'relay'"):
        site("site-1", g, hv, role="admin")


@pytest.mark.parametrize("host_vars, expected", [
    ({"nvflare_service_root": "/srv/fl"},
     {"root": "/srv/fl", "workspace": "/srv/fl/lab-b-1", "storage": "/srv/fl/storage", "venv": "/opt/nvflare/venv",
      "user": "nvflare"}),
    ({"nvflare_service_workspace": "/data/kit", "nvflare_service_storage_dir": "/data/jobs",
      "nvflare_venv_path": "/opt/v", "nvflare_venv_user": "fl"},
     {"root": "/var/lib/nvflare", "workspace": "/data/kit", "storage": "/data/jobs", "venv": "/opt/v", "user": "fl"}),
    # the service's own names win over nvflare_venv's, as in nvflare_service's defaults
    ({"nvflare_venv_path": "/opt/v", "nvflare_service_venv_path": "/opt/s", "nvflare_venv_user": "fl",
      "nvflare_service_user": "svc"},
     {"root": "/var/lib/nvflare", "workspace": "/var/lib/nvflare/lab-b-1", "storage": "/var/lib/nvflare/storage",
      "venv": "/opt/s", "user": "svc"}),
])
def test_host_paths_follow_the_inventory_then_the_role_defaults(host_vars, expected):
    g, hv = inv(site_2=host_vars)
    assert site("site-2", g, hv)["host_paths"] == expected
    # a site name set in a play moves the default workspace with it
    assert site("site-2", g, hv, site_name="x")["host_paths"]["workspace"] == (
        "/data/kit" if "nvflare_service_workspace" in host_vars else expected["root"] + "/x")


def test_host_paths_of_a_value_only_the_roles_resolve_take_the_defaults():
    """nvflare_service_workspace: "{{ nvflare_service_root }}/x" with the root left to the role's default: hostvars
    cannot resolve it outside the role; the model (and every play that reads it) still works."""
    g, hv = inv(server1={"nvflare_service_workspace": Undefined("nvflare_service_root")})
    assert site("server1", g, hv)["host_paths"]["workspace"] == "/var/lib/nvflare/server1"
    assert federation(g, hv, host="server1")["server"]["site_name"] == "server1"


def test_host_paths_resolve_values_that_read_role_defaults(tmp_path):
    """Through ansible-playbook (real hostvars): a path that reads nvflare_service_root, nvflare_venv_user or
    nvflare_service_site_name left to the role's default is what the role makes of it; one that reads a variable
    nobody defines counts as unset (the default path), and the model still works."""
    (tmp_path / "inv.yml").write_text(
        "all:\n"
        "  vars: {nvflare_workspace: \"%s\", nvflare_project_name: fed}\n"
        "  children:\n"
        "    nvflare_server:\n"
        "      hosts:\n"
        "        s:\n"
        "          ansible_host: 192.0.2.1\n"
        "          nvflare_service_workspace: '{{ nvflare_service_root }}/fl'\n"
        "          nvflare_service_storage_dir: '{{ nvflare_service_root }}/{{ nvflare_service_site_name }}-jobs'\n"
        "          nvflare_service_user: '{{ nvflare_venv_user }}-svc'\n"
        "    nvflare_clients:\n"
        "      hosts:\n"
        "        c1: {ansible_host: 192.0.2.2, nvflare_service_root: /data, nvflare_site_name: lab-1,\n"
        "             nvflare_service_workspace: '{{ nvflare_service_root }}/w',\n"
        "             nvflare_service_venv_path: '{{ nobody_defines_this }}/v'}\n" % (tmp_path / "ws"))
    (tmp_path / "paths.yml").write_text(
        "- hosts: all\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - ansible.builtin.copy:\n"
        "        content: \"{{ (inventory_hostname | edgefl.nvflare.site(groups, hostvars)).host_paths | to_json }}\"\n"
        "        dest: \"%s/{{ inventory_hostname }}.json\"\n"
        "      delegate_to: localhost\n" % tmp_path)
    proc = run_playbook(tmp_path, "-i", "inv.yml", "-e", "ansible_python_interpreter=%s" % sys.executable,
                        "paths.yml", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import json

    assert json.loads((tmp_path / "s.json").read_text()) == {
        "root": "/var/lib/nvflare", "workspace": "/var/lib/nvflare/fl", "storage": "/var/lib/nvflare/s-jobs",
        "venv": "/opt/nvflare/venv", "user": "nvflare-svc"}
    assert json.loads((tmp_path / "c1.json").read_text()) == {
        "root": "/data", "workspace": "/data/w", "storage": "/data/storage", "venv": "/opt/nvflare/venv",
        "user": "nvflare"}


def test_host_paths_match_the_role_defaults():
    """The model's defaults are nvflare_service's and nvflare_venv's (defaults/main.yml)."""
    import yaml

    service = yaml.safe_load(open(os.path.join(ROOT, "roles/nvflare_service/defaults/main.yml")))
    venv = yaml.safe_load(open(os.path.join(ROOT, "roles/nvflare_venv/defaults/main.yml")))
    paths = site("server1", *inv())["host_paths"]
    assert (paths["root"], paths["venv"], paths["user"]) == (
        service["nvflare_service_root"], venv["nvflare_venv_path"], venv["nvflare_venv_user"])
    assert service["nvflare_service_workspace"] == "{{ nvflare_service_root }}/{{ nvflare_service_site_name }}"
    assert service["nvflare_service_storage_dir"] == "{{ nvflare_service_root }}/storage"


def test_unit_name_from_the_inventory():
    g, hv = inv(site_1={"nvflare_service_unit_name": "fl.service"})
    assert site("site-1", g, hv)["unit"] == "fl.service"


def test_federation():
    g, hv = inv()
    out = federation(g, hv, host="localhost")
    assert out["client_names"] == ["site-1", "lab-b-1"]
    assert [c["host"] for c in out["clients"]] == ["site-1", "site-2"]
    assert out["server"]["site_name"] == "server1"
    assert out["wait_timeout"] == 180
    assert out["admin"] == {"name": "admin@nvidia.com", "org": "nvidia", "role": "project_admin",
                            "kit_dir": "/ws/fed/proj/kits/admin@nvidia.com", "dest": "/ws/fed/admin/admin@nvidia.com"}
    # next to the project, so that it can be taken before the first provisioning
    assert out["run_lock"] == "/ws/fed/.edgefl-run-proj.lock"
    # where upgrade.yml keeps the old project, and run_lock.yml looks for an unfinished upgrade
    assert out["upgrade_keep"] == "/ws/fed/.proj.upgrade-previous"
    assert out["upgrade_rollback"] == "/ws/fed/.proj.upgrade-previous.failed"
    assert out["project_dir"] == "/ws/fed/proj"
    assert out["venv_versions"] == ["2.9.0"]
    assert out["problems"] == []


def test_federation_without_workspace_has_no_run_lock():
    g, hv = inv(server1={"nvflare_workspace": None})
    out = federation(g, hv, host="localhost")
    assert out["run_lock"] == "" and out["upgrade_keep"] == "" and out["project_dir"] == ""
    assert out["upgrade_rollback"] == ""
    # the other hosts of inv() have it: the message says where it is read
    assert out["problems"] == ["nvflare_workspace is not set on the server 'server1', where the playbooks read it (it "
                               "is set on site-1, site-2 only): set it (group_vars/all) to an absolute control-node "
                               "directory that will hold the root CA and the startup kits, "
                               "e.g. ~/.local/share/edgefl-nvflare/<federation>"]
    # a relative workspace: nothing is made relative to wherever ansible-playbook runs; run_lock.yml refuses it
    g, hv = inv(server1={"nvflare_workspace": "rel/ws"})
    out = federation(g, hv, host="localhost")
    assert out["run_lock"] == ""
    assert len(out["problems"]) == 1 and out["problems"][0].startswith("nvflare_workspace 'rel/ws' is a relative path")
    for value, said in (("/", "nvflare_workspace is '/', the root directory"),
                        ("/etc/", "nvflare_workspace is /etc, a system directory: give a directory of its own"),
                        ({"x": 1}, "nvflare_workspace must be a path (a string), got a mapping")):
        g, hv = inv(server1={"nvflare_workspace": value})
        found = [p for p in federation(g, hv, host="localhost")["problems"] if "nvflare_workspace" in p]
        assert len(found) == 1 and found[0].startswith(said), found
    g, hv = inv(server1={"nvflare_workspace": "~/ws"})
    out = federation(g, hv, host="localhost")
    assert out["run_lock"] == os.path.expanduser("~/ws/.edgefl-run-proj.lock") and out["problems"] == []
    assert out["upgrade_keep"] == os.path.expanduser("~/ws/.proj.upgrade-previous")
    assert out["project_dir"] == os.path.expanduser("~/ws/proj")
    # no server: the workspace alone names the lock (restore.yml needs no more); playbooks/run_lock.yml stops such
    # an inventory before taking it, with the message the model gives when a server is required
    g, hv = inv(groups={"all": ["site-1"], "nvflare_server": [], "nvflare_clients": ["site-1"]})
    out = federation(g, hv, host="localhost")
    assert out["server"] is None and out["run_lock"] == out["workspace"] + "/.edgefl-run-proj.lock"
    assert out["problems"] == ["inventory group 'nvflare_server' must hold exactly one host (the NVFLARE server), "
                               "it holds none; put one host in it"]


def test_federation_named_admin():
    g, hv = inv(server1={"nvflare_admins": [{"name": "a@x.org"}, {"name": "b@x.org", "role": "lead"}]})
    assert federation(g, hv, host="localhost", admin="b@x.org")["admin"] == {
        "name": "b@x.org", "org": "nvidia", "role": "lead", "kit_dir": "/ws/fed/proj/kits/b@x.org",
        "dest": "/ws/fed/admin/b@x.org"}


def test_federation_admin_dest_and_wait_timeout():
    g, hv = inv(localhost={"nvflare_admin_dest": "/home/me/admin"},
                server1={"nvflare_site_wait_timeout": "60",
                         "nvflare_admins": [{"name": "ops@lab.org", "org": "lab", "role": "lead"}]})
    out = federation(g, hv, host="localhost")
    assert out["admin"]["dest"] == "/home/me/admin"
    assert out["admin"]["kit_dir"] == "/ws/fed/proj/kits/ops@lab.org"
    assert out["wait_timeout"] == 60


@pytest.mark.parametrize("groups, updates, text", [
    ({"nvflare_server": ["server1", "site-1"]}, {}, "'nvflare_server' must hold exactly one host (the NVFLARE server), it holds 2"),
    ({"nvflare_server": ["server1"], "nvflare_clients": ["server1"]}, {}, "in both"),
    ({"nvflare_server": ["server1"], "nvflare_clients": ["ghost"]}, {}, "'ghost' is in a group but not in hostvars"),
    (None, {"site_2": {"nvflare_site_name": "site-1"}}, "have the same site name 'site-1'"),
    (None, {"site_1": {"nvflare_site_name": "-bad name"}}, "nvflare_site_name='-bad name' is not a valid"),
    (None, {"server1": {"nvflare_fed_learn_port": 70000}}, "nvflare_fed_learn_port must be a TCP port"),
    (None, {"server1": {"nvflare_admin_port": True}}, "nvflare_admin_port must be a TCP port"),
    (None, {"server1": {"nvflare_wait_timeout": "soon"}}, "nvflare_wait_timeout must be a positive number"),
    (None, {"server1": {"nvflare_admins": "admin@x"}}, "nvflare_admins must be a list"),
    # an INI inventory's nvflare_admins=admin@x: named as a string (ansible-core's own type is _AnsibleTaggedStr),
    # with the JSON to write instead
    (None, {"server1": {"nvflare_admins": "admin@x"}}, "got a string: in YAML write a list of mappings"),
    (None, {"server1": {"nvflare_admins": 3}}, "nvflare_admins='[{\"name\": \"admin@example.com\""),
])
def test_federation_errors(groups, updates, text):
    g, hv = inv(groups=groups, **updates)
    with pytest.raises(AnsibleFilterError) as exc:
        federation(g, hv, host="localhost")
    assert text in str(exc.value)
    assert str(exc.value).startswith("edgefl.nvflare.federation: ")


def test_site_and_participants_agree():
    """The provision input and the roles read one address and one name per host."""
    from ansible_collections.edgefl.nvflare.plugins.filter.participants import FilterModule as P
    participants = P().filters()["participants"]
    g, hv = inv(server1={"nvflare_address": "10.1.1.1"}, site_1={"nvflare_hosts_address": "10.1.1.2"})
    spec = participants(g, hv)
    assert spec["server"]["host"] == site("server1", g, hv)["address"] == "10.1.1.1"
    assert spec["server"]["host_names"] == ["10.1.1.1"]
    assert spec["clients"][0] == {"name": "site-1", "org": "nvidia", "host": site("site-1", g, hv)["address"]}
    assert spec["clients"][1]["name"] == site("site-2", g, hv)["site_name"]


# --- relays -------------------------------------------------------------------------------------------
RELAY_GROUPS = {
    "all": ["server1", "relay-a", "relay-b", "site-1", "site-2"],
    "nvflare_server": ["server1"],
    "nvflare_relays": ["relay-a", "relay-b"],
    "nvflare_clients": ["site-1", "site-2"],
}


def relay_inv(**updates):
    base = {"relay-a": dict(FED, ansible_host="10.0.1.1"),
            "relay-b": dict(FED, ansible_host="10.0.2.1", nvflare_relay="relay-a", nvflare_relay_port=9102),
            "site-1": {"nvflare_relay": "relay-b"}}
    for host, values in base.items():
        updates.setdefault(host.replace("-", "_"), {})
        updates[host.replace("-", "_")] = dict(values, **updates[host.replace("-", "_")])
    return inv(groups=RELAY_GROUPS, **updates)


def test_client_behind_chained_relays():
    g, hv = relay_inv()
    out = site("site-1", g, hv)
    assert out["role"] == "client"
    assert out["parent"] == {"host": "relay-b", "site_name": "relay-b", "org": "nvidia", "address": "10.0.2.1",
                             "role": "relay", "port": 9102}
    assert out["path"] == ["site-1", "relay-b", "relay-a", "server1"]
    # inventory host names, for the hosts a failure up the chain keeps it from registering through
    assert out["upstream_hosts"] == ["relay-b", "relay-a", "server1"]
    # a client without nvflare_relay dials the server's fed_learn port
    direct = site("site-2", g, hv)
    assert direct["parent"]["role"] == "server" and direct["parent"]["port"] == 8002
    assert direct["path"] == ["lab-b-1", "server1"]  # site names (site-2 is named lab-b-1)
    assert direct["upstream_hosts"] == ["server1"]


def test_relay_site():
    g, hv = relay_inv()
    out = site("relay-a", g, hv)
    assert (out["role"], out["unit"], out["ports"]["relay"], out["member"]) == (
        "relay", "nvflare-relay.service", 8102, True)
    assert out["parent"]["role"] == "server"
    assert out["path"] == ["relay-a", "server1"]
    assert site("relay-b", g, hv)["path"] == ["relay-b", "relay-a", "server1"]
    assert site("relay-b", g, hv)["upstream_hosts"] == ["relay-a", "server1"]


def test_federation_lists_relays():
    g, hv = relay_inv()
    out = federation(g, hv, host="localhost")
    assert [r["site_name"] for r in out["relays"]] == ["relay-a", "relay-b"]
    assert out["client_names"] == ["site-1", "lab-b-1"]


def test_flat_inventory_has_no_relays():
    out = federation(*inv(), host="localhost")
    assert out["relays"] == []


@pytest.mark.parametrize("updates, groups, text", [
    ({"site_1": {"nvflare_relay": "relay-x"}}, None,
     "hostvars[site-1].nvflare_relay='relay-x' is not a host of the inventory group 'nvflare_relays'"),
    ({"relay_a": {"nvflare_relay": "relay-b"}}, None, "the relays form a cycle through nvflare_relay: relay-b -> relay-a -> relay-b"),
    ({"relay_a": {"nvflare_relay": "relay-a"}}, None, "hostvars[relay-a].nvflare_relay points at the host itself"),
    ({"server1": {"nvflare_relay": "relay-a"}}, None, "the server connects to no relay"),
    ({"site_1": {"nvflare_relay": "server1"}}, None,
     "hostvars[site-1].nvflare_relay='server1' is the server: a host without nvflare_relay connects to the server; "
     "remove the variable"),
    ({}, dict(RELAY_GROUPS, nvflare_clients=["site-1", "site-2", "relay-a"]),
     "host 'relay-a' is in both 'nvflare_relays' and 'nvflare_clients'"),
    ({}, dict(RELAY_GROUPS, nvflare_server=["relay-a"]), "host 'relay-a' is in both 'nvflare_relays' and 'nvflare_server'"),
    ({"relay_b": {"ansible_host": "10.0.1.1", "nvflare_relay_port": 8102}}, None,
     "relays 'relay-a' and 'relay-b' both listen on 10.0.1.1:8102"),
    ({"relay_a": {"nvflare_relay_port": 0}}, None, "nvflare_relay_port must be a TCP port"),
])
def test_relay_errors(updates, groups, text):
    g, hv = relay_inv(**updates)
    if groups:
        g = copy.deepcopy(groups)
    with pytest.raises(AnsibleFilterError) as exc:
        federation(g, hv, host="localhost")
    assert text in str(exc.value)


def test_unresolvable_site_name_is_a_clear_error():
    g, hv = inv(site_1={"nvflare_site_name": jinja2.StrictUndefined(name="nope")})
    with pytest.raises(AnsibleFilterError, match=r"hostvars\[site-1\].nvflare_site_name cannot be resolved here"):
        site("site-1", g, hv)


def test_an_undefined_variable_named_vault_is_no_vault_problem():
    g, hv = inv(server1={"nvflare_org": jinja2.StrictUndefined(name="vault_org")})
    with pytest.raises(AnsibleFilterError) as exc:
        site("site-1", g, hv)
    assert "vault_org" in str(exc.value) and "ansible-vault" not in str(exc.value)


def test_a_vaulted_value_without_the_password_says_how_to_give_it():
    vaulted = jinja2.StrictUndefined(hint="A vault exception marker was tripped.")
    g, hv = inv(server1={"nvflare_org": vaulted})
    with pytest.raises(AnsibleFilterError) as exc:
        site("site-1", g, hv)
    assert ("hostvars[server1].nvflare_org cannot be resolved here: A vault exception marker was tripped. (the value "
            "is encrypted with ansible-vault and this run has no vault password: run ansible-playbook with "
            "--ask-vault-pass or --vault-password-file FILE)") in str(exc.value)


# ---- cost: how often the model asks Ansible for a host's variables (issue #15) ----------------------------------
class CountingHostVars(dict):
    """hostvars that count hostvars[host]: on ansible-core 2.19 each one runs the variable manager for the host."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reads = 0

    def __getitem__(self, host):
        self.reads += 1
        return dict.__getitem__(self, host)


def _fleet(n):
    clients = ["site-%d" % k for k in range(1, n + 1)]
    groups = {"all": ["server1"] + clients, "nvflare_server": ["server1"], "nvflare_clients": clients}
    hostvars = CountingHostVars({h: dict(FED, ansible_host="192.0.2.%d" % (10 + k))
                                 for k, h in enumerate(["server1"] + clients)})
    return groups, hostvars


def test_one_model_reads_each_host_once():
    groups, hostvars = _fleet(20)
    fed = federation(groups, hostvars, host="server1")
    assert len(fed["clients"]) == 20
    assert hostvars.reads == 21


def test_the_controller_process_computes_the_model_every_time():
    # the controller's own process: set_fact and add_host change variables between two templates
    groups, hostvars = _fleet(3)
    site("site-1", groups, hostvars)
    first = hostvars.reads
    dict.__getitem__(hostvars, "site-1")["nvflare_site_name"] = "renamed"
    assert site("site-1", groups, hostvars)["site_name"] == "renamed"
    assert hostvars.reads == 2 * first


def _in_a_forked_worker(conn):
    # what Ansible's WorkerProcess is: a fork of the controller that runs one task for one host
    groups, hostvars = _fleet(10)
    first = federation(groups, hostvars, host="site-1")
    reads = hostvars.reads
    first["clients"][0]["site_name"] = "mutated by a caller"
    again = federation(groups, hostvars, host="site-1")
    other = site("site-2", groups, hostvars, role="relay")
    conn.send((reads, hostvars.reads, again["clients"][0]["site_name"], other["role"]))
    conn.close()


def test_a_worker_process_reuses_the_model():
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_in_a_forked_worker, args=(child,))
    proc.start()
    reads, total, name, role = parent.recv()
    proc.join(30)
    assert reads == 11
    # the same call again costs nothing and hands out a copy; other arguments compute their own model (site-2
    # as a relay: that host and the server)
    assert name == "site-1"
    assert role == "relay"
    assert total == reads + 2


@pytest.mark.parametrize("groups, said", [
    ({"nvflare_server": ["server1"], "nvflare_client": ["site-1", "site-2"]},
     ["inventory group 'nvflare_client' (2 hosts) looks like a misspelling of 'nvflare_clients', which the playbooks "
      "read and which is missing: rename it to nvflare_clients"]),
    ({"nvflare_server": ["server1"], "nvflare_clients": [], "nvflare-clients": ["site-1"], "nvflare_relay": ["site-2"]},
     ["inventory group 'nvflare-clients' (1 host) looks like a misspelling of 'nvflare_clients', which the playbooks "
      "read and which is empty: rename it to nvflare_clients",
      "inventory group 'nvflare_relay' (1 host) looks like a misspelling of 'nvflare_relays', which the playbooks "
      "read and which is missing: rename it to nvflare_relays"]),
    # the bare names other guides use (an INI [client] section, servers)
    ({"nvflare_server": ["server1"], "client": ["site-1", "site-2"]},
     ["inventory group 'client' (2 hosts) looks like a misspelling of 'nvflare_clients', which the playbooks "
      "read and which is missing: rename it to nvflare_clients"]),
    ({"Servers": ["server1"], "nvflare_clients": ["site-1"], "Relays": ["site-2"]},
     ["inventory group 'Servers' (1 host) looks like a misspelling of 'nvflare_server', which the playbooks "
      "read and which is missing: rename it to nvflare_server",
      "inventory group 'Relays' (1 host) looks like a misspelling of 'nvflare_relays', which the playbooks "
      "read and which is missing: rename it to nvflare_relays"]),
    # groups of other names, and a near name next to a group that has hosts, are left alone
    ({"nvflare_server": ["server1"], "nvflare_clients": ["site-1"], "nvflare_client": ["site-2"], "clients": ["x"],
      "gpu": ["site-1"]}, []),
    # a bare-named group whose hosts the federation's groups hold already (the operator's own grouping)
    ({"nvflare_server": ["server1"], "nvflare_clients": ["site-1", "site-2"], "relays": ["site-2"]}, []),
])
def test_a_misspelled_group_is_a_problem(groups, said):
    g, hv = inv(groups=dict({"all": ["server1", "site-1", "site-2", "x"]}, **groups))
    out = federation(g, hv, host="localhost")
    assert [p for p in out["problems"] if "misspelling" in p] == said


def test_a_group_vars_file_of_no_group_near_a_federation_group_is_a_problem(tmp_path):
    """Ansible skips group_vars/nvflare_servers.yml without a word: its ports or workspace would not apply."""
    gv = tmp_path / "group_vars"
    (gv / "clients").mkdir(parents=True)
    for name in ("all.yml", "nvflare_servers.yml", "nvflare_relays.yml", "gpu.yml", "al.yaml", "README.md",
                 "nvflare_clients.yml"):
        (gv / name).write_text("---\n")
    g, hv = inv(**{h: {"inventory_dir": str(tmp_path)} for h in ("server1", "site_1", "site_2")})
    found = [p for p in federation(g, hv, host="localhost")["problems"] if "group_vars" in p]
    assert found == [
        "%s/%s is read for no group: Ansible reads group_vars by group name and this inventory has no group %r, so "
        "its settings do not apply; rename it to %s" % (gv, name, os.path.splitext(name)[0], to)
        for name, to in (("al.yaml", "all.yaml"), ("clients", "nvflare_clients"),
                         ("nvflare_servers.yml", "nvflare_server.yml"))]


@pytest.mark.parametrize("value, bad", [
    (None, False), ("python3", False), ("/opt/nv-2.4/bin/python", False), ("~/nv-2.4/bin/python", False),
    ("nv-2.4/bin/python", True), ("./python", True),
])
def test_a_relative_control_python_is_a_problem(value, bad):
    g, hv = inv(**({} if value is None else {"server1": {"nvflare_control_python": value}}))
    said = [p for p in federation(g, hv, host="localhost")["problems"] if "nvflare_control_python" in p]
    assert said == ([
        "nvflare_control_python %r is a relative path: Ansible runs the control-node tasks that use it from the "
        "directory of each playbook, not from where you run ansible-playbook; give an absolute path, e.g. "
        "-e nvflare_control_python=$PWD/%s" % (value, value)] if bad else [])


@pytest.mark.parametrize("value, bad", [
    (None, False), ("2.9.0", False), ("2.4.2", False), ("2.10", False), ("2.9.0rc1", False), ("2.9rc1", False),
    (2.7, False), ("2.x", True), ("2.3.1", True), ("2.3rc1", True), ("v2.9.0", True), ("latest", True),
    ("2.9.0 ", True),
])
def test_a_bad_nvflare_version_is_a_problem(value, bad):
    g, hv = inv(**({} if value is None else {"server1": {"nvflare_version": value}}))
    said = [p for p in federation(g, hv, host="localhost")["problems"] if "nvflare_version" in p]
    assert said == (["nvflare_version %r is not an NVFLARE release this collection deploys: give a release such as "
                     "2.9.0, 2.4 or later, the same as the control node's nvflare" % str(value)] if bad else [])


@pytest.mark.parametrize("name, value, said", [
    ("nvflare_min_clients", "all", None), ("nvflare_min_clients", "1", None), ("nvflare_min_clients", 2, None),
    ("nvflare_min_clients", "50%", None), ("nvflare_min_clients", "0", None),
    ("nvflare_min_clients", "3", "nvflare_min_clients=3 is more than the 2 client(s) of the inventory: give at most 2"),
    ("nvflare_min_clients", "150%", "nvflare_min_clients percentage must be in (0, 100], got '150%'"),
    ("nvflare_min_clients", "abc", "nvflare_min_clients must be a count, a percentage like '25%' or 'all', got 'abc'"),
    ("nvflare_rollout_batch", "all", None), ("nvflare_rollout_batch", "1", None), ("nvflare_rollout_batch", "25%", None),
    ("nvflare_rollout_batch", "5", None),
    ("nvflare_rollout_batch", "0", "nvflare_rollout_batch must be at least 1 client, got '0'"),
    ("nvflare_rollout_batch", "two", "nvflare_rollout_batch must be a count, a percentage like '25%' or 'all'"),
    ("nvflare_rollout_batch", True, "nvflare_rollout_batch must be a count"),
    ("nvflare_max_fail_percentage", 0, None), ("nvflare_max_fail_percentage", "20", None),
    ("nvflare_max_fail_percentage", "20%", None), ("nvflare_max_fail_percentage", 100, None),
    ("nvflare_max_fail_percentage", "120", "nvflare_max_fail_percentage must be a percentage from 0 to 100"),
    ("nvflare_max_fail_percentage", "some", "nvflare_max_fail_percentage must be a percentage from 0 to 100"),
    ("nvflare_max_fail_percentage", -1, "nvflare_max_fail_percentage must be a percentage from 0 to 100"),
])
def test_a_bad_rollout_or_quorum_value_is_a_problem(name, value, said):
    """Read at the end of a deploy (the wait's quorum) or as play keywords after the bootstrap: checked in the first
    play instead, against the inventory's 2 clients."""
    g, hv = inv(server1={name: value})
    found = [p for p in federation(g, hv, host="localhost")["problems"] if name in p]
    if said is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(said), found


@pytest.mark.parametrize("updates, said", [
    ({}, []),
    ({"server1": {"nvflare_project_name": "bad/name"}},
     ["nvflare_project_name 'bad/name' is not a usable project name: 1-63 characters"]),
    ({"site_1": {"nvflare_site_name": "site.1"}},
     ["NVFLARE refuses the client name 'site.1' of host 'site-1': use letters, digits, '-' and '_' only"]),
    ({"server1": {"nvflare_site_name": "server_1"}},
     ["NVFLARE refuses the server name 'server_1' of host 'server1': use a DNS-style host name"]),
    ({"site_1": {"nvflare_org": "lab-a"}, "site_2": {"nvflare_org": "lab-a"}},
     ["NVFLARE refuses the org 'lab-a' (host site-1, host site-2): use letters, digits and '_' only"]),
    ({"server1": {"nvflare_admins": [{"name": "ops", "org": "a-b"}]}},
     ["NVFLARE refuses the admin name 'ops' in nvflare_admins: use an e-mail address",
      "NVFLARE refuses the org 'a-b' (admin ops)"]),
])
def test_names_nvflare_refuses_are_problems(updates, said):
    """NVFLARE's own name rules (the same in 2.4 to 2.9): provisioning refuses such names only after the bootstrap;
    the first play finds them."""
    g, hv = inv(**updates)
    found = [p for p in federation(g, hv, host="localhost")["problems"] if "NVFLARE refuses" in p or "project name" in p]
    assert len(found) == len(said) and all(f.startswith(s) for f, s in zip(found, said)), found


LONG = "a" * 65


@pytest.mark.parametrize("updates, said", [
    ({"site_1": {"nvflare_site_name": LONG}},
     "host 'site-1': the client name %r is 65 characters long, and a certificate's common name holds at most 64" % LONG),
    ({"server1": {"nvflare_site_name": "fl." + "b" * 62}},
     "host 'server1': the server name %r is 65 characters long" % ("fl." + "b" * 62)),
    ({"server1": {"nvflare_admins": [{"name": "x" * 60 + "@example.com"}]}},
     "nvflare_admins: the admin name %r is 72 characters long" % ("x" * 60 + "@example.com")),
])
def test_names_too_long_for_a_certificate_are_problems(updates, said):
    """A participant's name is its certificate's common name (at most 64 characters): provisioning fails on a longer
    one with a bare cryptography error, or (a server, NVFLARE 2.6+) cuts it short and breaks the workspace."""
    g, hv = inv(**updates)
    found = federation(g, hv, host="localhost")["problems"]
    assert len(found) == 1 and found[0].startswith(said), found
    g, hv = inv(site_1={"nvflare_site_name": "a" * 64})
    assert federation(g, hv, host="localhost")["problems"] == []


@pytest.mark.parametrize("address", ["not an address!", "192.0.2.999", "192.0.2.1/24"])
def test_a_server_address_that_is_no_address_is_a_problem(address):
    """The clients' kits name the server's address; before, the first play let a bad one through (provisioning
    refused it after the bootstrap had contacted every host)."""
    g, hv = inv(server1={"nvflare_address": address})
    found = federation(g, hv, host="localhost")["problems"]
    assert len(found) == 1 and "hostvars[server1].nvflare_address (else ansible_host): %r" % address in found[0], found


def test_no_admin_and_a_relative_admin_dest_are_errors():
    g, hv = inv(server1={"nvflare_admins": []})
    with pytest.raises(AnsibleFilterError, match="nvflare_admins is empty: list at least one admin"):
        federation(g, hv, host="localhost")
    g, hv = inv(localhost={"nvflare_admin_dest": "admin-kit"})
    assert federation(g, hv, host="localhost")["problems"] == [
        "nvflare_admin_dest 'admin-kit' is not an absolute path: the nvflare_admin role copies the admin kit there and "
        "refuses anything else, at the end of the deploy; give an absolute control-node directory, e.g. "
        "/home/me/nvflare-admin"]
    g, hv = inv(localhost={"nvflare_admin_dest": "/srv/admin"})
    assert federation(g, hv, host="localhost")["problems"] == []


def test_a_relay_on_the_servers_endpoint_is_an_error():
    g, hv = relay_inv(relay_a={"ansible_host": "192.0.2.10", "nvflare_relay_port": 8002})
    with pytest.raises(AnsibleFilterError, match="server 'server1' and relay 'relay-a' both listen on 192.0.2.10:8002"):
        federation(g, hv, host="localhost")


def test_a_bad_org_names_five_holders_and_counts_the_rest():
    groups = {"all": ["server1"] + ["c%d" % i for i in range(8)], "nvflare_server": ["server1"],
              "nvflare_clients": ["c%d" % i for i in range(8)]}
    hv = FakeHostVars((h, dict(FED, ansible_host="192.0.2.%d" % (i + 1), nvflare_org="x.y"))
                      for i, h in enumerate(groups["all"] + ["localhost"]))
    found = [p for p in federation(groups, hv, host="localhost")["problems"] if "org" in p]
    assert found == ["NVFLARE refuses the org 'x.y' (host server1, host c0, host c1, host c2, host c3 and 4 more): use "
                     "letters, digits and '_' only (nvflare_org, or the admin's org in nvflare_admins)"]


@pytest.mark.parametrize("name, value, bad", [
    ("nvflare_quorum_grace", "30", False), ("nvflare_quorum_grace", 0, False), ("nvflare_quorum_grace", "abc", True),
    ("nvflare_quorum_grace", "-5", True), ("nvflare_quorum_grace", 2.5, True), ("nvflare_quorum_grace", True, True),
    ("nvflare_run_lock_timeout", "0", False), ("nvflare_run_lock_timeout", "ten", True),
    ("nvflare_cert_warn_days", "30 ", False), ("nvflare_cert_warn_days", "30d", True),
    ("nvflare_submit_timeout", "0", True), ("nvflare_submit_timeout", 900, False),
    ("nvflare_ca_validity_days", "3650", False), ("nvflare_cert_validity_days", "1y", True),
])
def test_a_setting_that_is_no_whole_number_is_a_problem(name, value, bad):
    """nvflare_quorum_grace=abc went through Jinja's int filter as 0; the others failed only where they are read."""
    g, hv = inv(server1={name: value})
    found = [p for p in federation(g, hv, host="localhost")["problems"] if p.startswith(name + " ")]
    assert found == (["%s must be a whole number%s, got %r" % (
        name, " of 1 or more" if name in ("nvflare_submit_timeout", "nvflare_cert_validity_days") else " (0 or more)",
        value)] if bad else [])


@pytest.mark.parametrize("name, value, bad", [
    ("nvflare_replace_foreign_kit", "yes please", True), ("nvflare_replace_foreign_kit", "true", False),
    ("nvflare_replace_foreign_kit", True, False), ("nvflare_fast_path", "no", False), ("nvflare_fast_path", 0, False),
    ("nvflare_fast_path", "off ", False), ("nvflare_allow_restart_during_job", "sure", True),
    ("nvflare_uninstall_workspace", 2, True), ("nvflare_site_disable", ["true"], True),
    ("nvflare_submit_wait", "", False),
])
def test_a_setting_that_is_no_boolean_is_a_problem(name, value, bad):
    """nvflare_replace_foreign_kit='yes please' went through Jinja's bool filter as false: the kit check then told the
    operator to set what they had set."""
    g, hv = inv(server1={name: value})
    found = [p for p in federation(g, hv, host="localhost")["problems"] if p.startswith(name + " ")]
    assert found == (["%s must be true or false (or yes/no, 1/0), got %r" % (name, value)] if bad else [])


@pytest.mark.parametrize("ports, said", [
    ({}, None),
    ({"nvflare_fed_learn_port": 8003}, 8003),
    ({"nvflare_fed_learn_port": "8003"}, 8003),
    ({"nvflare_server_admin_port": 8002}, 8002),
    ({"nvflare_admin_port": 8002}, 8002),  # the older name of the same setting
    ({"nvflare_fed_learn_port": 8443, "nvflare_server_admin_port": 8443}, None),  # both set: NVFLARE 2.8+ shares it
    ({"nvflare_fed_learn_port": 9002, "nvflare_server_admin_port": 9003}, None),
])
def test_a_defaulted_port_equal_to_the_other_is_a_problem(ports, said):
    """nvflare_fed_learn_port=8003 alone (the admin port's default) was refused only by provisioning, after the
    bootstrap had contacted every host; the first play now gives provisioning's own reason."""
    g, hv = inv(server1=ports)
    found = [p for p in federation(g, hv, host="localhost")["problems"] if "would both be" in p]
    assert found == ([] if said is None else [
        "nvflare_server_admin_port and nvflare_fed_learn_port would both be %d; NVFLARE 2.7 and later can share one "
        "port, but only when you set both nvflare_fed_learn_port and nvflare_server_admin_port explicitly - set "
        "nvflare_server_admin_port (default 8003) to another port or set both explicitly" % said])


def test_a_port_another_host_sets_differently_is_a_problem():
    """The server's ports are read from the server host: a group_vars/nvflare_clients value was never read."""
    g, hv = inv(server1={"nvflare_fed_learn_port": 9002}, site_1={"nvflare_fed_learn_port": 9102},
                site_2={"nvflare_fed_learn_port": 9102, "nvflare_server_admin_port": "8003"})
    found = [p for p in federation(g, hv, host="localhost")["problems"] if "port" in p]
    assert found == ["nvflare_fed_learn_port is 9102 on site-1, site-2 but 9002 on the server 'server1': the server's "
                     "ports are one setting of the federation, read from the server host (every kit gets the "
                     "server's); set it once for every host (group_vars/all)"]
    g, hv = inv(server1={"nvflare_fed_learn_port": 9002}, site_1={"nvflare_fed_learn_port": 9002})
    assert federation(g, hv, host="localhost")["problems"] == []
    g, hv = inv(site_1={"nvflare_server_admin_port": "x"})
    assert federation(g, hv, host="localhost")["problems"] == [
        "host 'site-1': nvflare_server_admin_port must be a TCP port number between 1 and 65535, got 'x'"]


@pytest.mark.parametrize("updates, said", [
    ({"server1": {"nvflare_fed_learn_port": 22}},
     "nvflare_fed_learn_port 22 is the port Ansible reaches the server 'server1' at over SSH"),
    ({"server1": {"nvflare_server_admin_port": 2222, "ansible_port": "2222"}},
     "nvflare_server_admin_port 2222 is the port Ansible reaches the server 'server1' at over SSH"),
    ({"server1": {"nvflare_fed_learn_port": 22, "ansible_connection": "local"}}, None),
    # no ansible_host and no nvflare_address: SSH and the participants both use the inventory name
    ({"server1": {"nvflare_fed_learn_port": 8002, "ansible_port": 8002, "ansible_host": None}},
     "nvflare_fed_learn_port 8002 is the port Ansible reaches the server 'server1' at over SSH"),
    # reached through a port forward on another address than the one the participants dial
    ({"server1": {"nvflare_fed_learn_port": 2201, "ansible_port": 2201, "nvflare_address": "10.0.0.10"}}, None),
    ({"relay-1": {"nvflare_relay_port": 22}},
     "nvflare_relay_port 22 is the port Ansible reaches the relay 'relay-1' at over SSH"),
])
def test_a_port_the_service_shares_with_ssh_is_a_problem(updates, said):
    groups = dict(GROUPS, all=GROUPS["all"] + ["relay-1"], nvflare_relays=["relay-1"])
    relay = dict(FED, ansible_host="192.0.2.20", **updates.pop("relay-1", {}))
    g, hv = inv(groups=groups, relay_1=relay, **updates)
    found = [p for p in federation(g, hv, host="localhost")["problems"] if "over SSH" in p]
    assert found == ([] if said is None else ["%s (ansible_port, default 22): the NVFLARE service could not listen "
                                              "there; give %s another port" % (said, said.split()[0])])


@pytest.mark.parametrize("groups", [
    {"all": ["server1"], "nvflare_server": ["server1"], "nvflare_clients": []},
    {"all": ["server1"], "nvflare_server": ["server1"]},
])
def test_a_federation_without_clients_is_a_deploy_problem(groups):
    """It deployed a server alone (an INI group line Ansible could not parse drops the clients with a warning).
    Only the deploying playbooks refuse it: after every client was removed, uninstall, stop and status go on."""
    g, hv = inv(groups=groups)
    out = federation(g, hv, host="localhost")
    assert out["problems"] == []
    assert out["deploy_problems"] == [
        "inventory group 'nvflare_clients' holds no host: a federation needs at least one client to run a job; put the "
        "clients in it (an inventory line Ansible cannot parse is skipped: check its warnings above)"]
    assert federation(*inv(), host="localhost")["deploy_problems"] == []


def test_an_address_from_a_variable_defined_nowhere_is_a_problem():
    """It counted as not known yet (as one from facts does), so ansible_host went into the server's certificate and
    every /etc/hosts entry without a word."""
    g, hv = inv(server1={"nvflare_address": Undefined("lan_prefix")}, site_1={"ansible_host": Undefined("lab_net")})
    assert federation(g, hv, host="localhost")["problems"] == [
        "hostvars[server1].nvflare_address cannot be resolved: 'lan_prefix' is undefined; define it (group_vars, "
        "host_vars) or give the address itself",
        "hostvars[site-1].ansible_host cannot be resolved: 'lab_net' is undefined; define it (group_vars, host_vars) "
        "or give the address itself"]
    # from facts, gathered later, or from another host's variables (hostvars is undefined when localhost reads a
    # host's value that uses it): not a problem here
    for name in ("ansible_default_ipv4", "hostvars"):
        g, hv = inv(server1={"nvflare_address": Undefined(name)})
        assert federation(g, hv, host="localhost")["problems"] == [], name


def test_a_port_with_a_fraction_is_not_a_port():
    for host, name in (("server1", "nvflare_fed_learn_port"), ("server1", "nvflare_server_admin_port")):
        g, hv = inv(**{host: {name: 8002.5}})
        with pytest.raises(AnsibleError, match=r"%s must be a TCP port number between 1 and 65535, got 8002\.5" % name):
            federation(g, hv, host="localhost")
    g, hv = inv(server1={"nvflare_fed_learn_port": 9002.0})
    assert site("site-1", g, hv)["ports"]["fed_learn"] == 9002


RELAYED = {"all": ["server1", "relay-1", "site-1", "site-2"], "nvflare_server": ["server1"],
           "nvflare_relays": ["relay-1"], "nvflare_clients": ["site-1", "site-2"]}


@pytest.mark.parametrize("groups, updates, said", [
    (RELAYED, {"server1": {"nvflare_version": "2.9.0"}}, None),
    (RELAYED, {}, None),  # provision.yml's default: 2.9.0
    (RELAYED, {"server1": {"nvflare_version": "2.5.2"}},
     "provisioning for NVFLARE 2.5.2 would refuse this inventory: relays[0]: relay participants need nvflare 2.6.0 or "
     "later"),
    (None, {"server1": {"nvflare_version": "2.6.3", "nvflare_fed_learn_port": 8443, "nvflare_server_admin_port": 8443}},
     "provisioning for NVFLARE 2.6.3 would refuse this inventory: server.admin_port: nvflare 2.6.3 needs an admin "
     "port separate from fed_learn_port (both 8443)"),
    # 2.7's server serves the admin on fed_learn_port (tests/versions: a 2.7.3 federation on one port)
    (None, {"server1": {"nvflare_version": "2.7.3", "nvflare_fed_learn_port": 8443, "nvflare_server_admin_port": 8443}},
     None),
    (None, {"server1": {"nvflare_version": "2.8.3", "nvflare_fed_learn_port": 8443, "nvflare_server_admin_port": 8443}},
     None),
    (None, {"server1": {"nvflare_version": "2.4.2"}}, None),
])
def test_what_provisioning_would_refuse_is_a_problem(groups, updates, said):
    """Version limits of provisioning (relays before NVFLARE 2.6, one shared port before 2.7) were found only by
    provision.yml, after the bootstrap; the first play now runs the provision module's own input check."""
    hv_updates = dict(updates)
    if groups is RELAYED:
        hv_updates.setdefault("relay_1", {}).update(FED, ansible_host="192.0.2.20")
        hv_updates.setdefault("site_1", {}).update(nvflare_relay="relay-1")
    g, hv = inv(groups, **hv_updates)
    problems = federation(g, hv, host="localhost")["problems"]
    assert (problems == []) if said is None else (len(problems) == 1 and problems[0].startswith(said)), problems


def test_the_provisioning_check_waits_for_the_models_own_problems():
    """One message at a time: the model's problems first (here a refused site name), not what provisioning makes
    of the same input."""
    g, hv = inv(site_1={"nvflare_site_name": "site.1", "nvflare_version": "2.5.2"})
    problems = federation(g, hv, host="localhost")["problems"]
    assert problems and not [p for p in problems if p.startswith("provisioning for")], problems


@pytest.mark.parametrize("updates, said", [
    ({}, []),
    # one machine reached twice over SSH: the client's firewall run would delete the server's port rules
    ({"site_1": {"ansible_host": "192.0.2.10"}},
     ["hosts 'server1' and 'site-1' are reached at one SSH address (192.0.2.10 port 22)"]),
    ({"site_2": {"ansible_host": "192.0.2.11", "ansible_port": "22"}},
     ["hosts 'site-1' and 'site-2' are reached at one SSH address (192.0.2.11 port 22)"]),
    # behind one NAT, each device on its own forwarded port: distinct machines
    ({"site_1": {"ansible_host": "198.51.100.1", "ansible_port": 2201},
      "site_2": {"ansible_host": "198.51.100.1", "ansible_port": 2202}}, []),
    # not reached over SSH: the address says nothing of the SSH machine (a container name, the control node itself)
    ({"site_1": {"ansible_host": "192.0.2.10", "ansible_connection": "containers.podman.podman"}}, []),
    ({"site_1": {"ansible_host": "192.0.2.10", "ansible_connection": "local"}}, []),
    # hosts on the control node itself are not compared (how the unit tests model a federation on one machine)
    ({"site_1": {"ansible_host": "192.0.2.98", "ansible_connection": "local"},
      "site_2": {"ansible_host": "192.0.2.99", "ansible_connection": "ansible.builtin.local"}}, []),
    # two hosts in one container
    ({"site_1": {"ansible_host": "edge-a", "ansible_connection": "containers.podman.podman"},
      "site_2": {"ansible_host": "edge-a", "ansible_connection": "podman"}},
     ["hosts 'site-1' and 'site-2' are reached at one podman target (edge-a)"]),
    ({"site_1": {"ansible_host": "edge-a", "ansible_connection": "podman"},
      "site_2": {"ansible_host": "edge-b", "ansible_connection": "podman"}}, []),
    ({"site_1": {"ansible_host": "192.0.2.10", "ansible_connection": "ansible.builtin.ssh"}},
     ["hosts 'server1' and 'site-1' are reached at one SSH address (192.0.2.10 port 22)"]),
    ({"site_1": {"ansible_host": "192.0.2.10", "ansible_connection": "ansible.netcommon.libssh"}},
     ["hosts 'server1' and 'site-1' are reached at one SSH address (192.0.2.10 port 22)"]),
    # every loopback name is this machine: one sshd, whatever the name
    ({"site_1": {"ansible_host": "localhost"}, "site_2": {"ansible_host": "127.0.0.1"}},
     ["hosts 'site-1' and 'site-2' are reached at one SSH address (this machine's loopback, 127.0.0.1 port 22)"]),
    ({"site_1": {"ansible_host": "::1", "ansible_port": 22}, "site_2": {"ansible_host": "127.0.1.1"}},
     ["hosts 'site-1' and 'site-2' are reached at one SSH address (this machine's loopback, 127.0.1.1 port 22)"]),
    # ports forwarded on the loopback to containers or VMs (the molecule scenarios): distinct machines
    ({"site_1": {"ansible_host": "127.0.0.1", "ansible_port": 2201},
      "site_2": {"ansible_host": "localhost", "ansible_port": 2202}}, []),
    # site names that differ only in case resolve to one address
    ({"site_2": {"nvflare_site_name": "Site-1"}},
     ["hosts 'site-1' and 'site-2' have the site names 'site-1' and 'Site-1', which differ only in case"]),
])
def test_two_hosts_on_one_machine_or_one_name_are_a_problem(updates, said):
    g, hv = inv(**updates)
    found = federation(g, hv, host="localhost")["problems"]
    assert len(found) == len(said), found
    for problem, start in zip(found, said):
        assert problem.startswith(start), found


def test_venv_versions_read_each_host_as_the_venv_role_does():
    g, hv = inv(site_1={"nvflare_venv_version": "2.7.3"}, site_2={"nvflare_version": "2.8.3"},
                server1={"nvflare_version": "2.9.0"})
    assert federation(g, hv, host="localhost")["venv_versions"] == ["2.9.0", "2.7.3", "2.8.3"]
    g, hv = inv(site_1={"nvflare_venv_version": ""})
    assert federation(g, hv, host="localhost")["venv_versions"] == ["2.9.0"]


@pytest.mark.parametrize("book, refused", [("site.yml", True), ("playbooks/stop.yml", False)])
def test_only_a_deploy_stops_on_an_inventory_without_clients(tmp_path, book, refused):
    """Through ansible-playbook: site.yml stops in its first play; stop.yml goes on to the (unreachable) server."""
    ws = tmp_path / "ws"
    (tmp_path / "inv.yml").write_text(
        "all:\n"
        "  vars: {ansible_connection: ssh, nvflare_workspace: \"%s\", nvflare_project_name: fed,\n"
        "         ansible_ssh_common_args: '-o ConnectTimeout=2'}\n"
        "  children:\n"
        "    nvflare_server: {hosts: {s: {ansible_host: 192.0.2.1}}}\n"
        "    nvflare_clients: {hosts: {}}\n" % ws)
    proc = run_playbook(tmp_path, "-i", "inv.yml", os.path.join(ROOT, book), timeout=180)
    out = " ".join(proc.stdout.split())
    said = "inventory group 'nvflare_clients' holds no host: a federation needs at least one client"
    assert proc.returncode != 0, out
    assert (said in out) is refused, out
    assert ("UNREACHABLE" in proc.stdout) is not refused, out


@pytest.mark.parametrize("updates, local", [
    ({}, []),
    # one host on the control node (a server next to the operator's tools): nothing to refuse
    ({"server1": {"ansible_connection": "local"}}, []),
    ({"site_1": {"ansible_connection": "local"}, "site_2": {"ansible_connection": "ansible.builtin.local"}},
     ["site-1", "site-2"]),
    ({"server1": {"ansible_connection": "local"}, "site_1": {"ansible_connection": "local"},
      "site_2": {"ansible_connection": "local"}}, ["server1", "site-1", "site-2"]),
])
def test_two_hosts_on_the_control_node_are_a_deploy_problem(updates, local):
    """Each is this machine: the second host's unit, storage and firewall rules would overwrite the first's. Only the
    deploying playbooks refuse it; a model of the whole federation read on one machine (dry runs, status) goes on."""
    g, hv = inv(**updates)
    out = federation(g, hv, host="localhost")
    assert out["problems"] == []
    if not local:
        assert out["deploy_problems"] == []
        return
    assert out["deploy_problems"] == [
        "hosts %s all have ansible_connection local, so each is this control node: the roles deploy one NVFLARE "
        "participant per machine (its unit, storage and firewall rules), and the later ones would overwrite the first; "
        "keep at most one of them local and reach the others over SSH (ansible_host)" % ", ".join(repr(h) for h in local)]


@pytest.mark.parametrize("updates, said", [
    ({"site_1": {"nvflare_site_name": "server"}},
     "host 'site-1': a client cannot be named 'server': NVFLARE keeps that name for the server"),
    ({"site_2": {"nvflare_site_name": "server", "nvflare_org": "lab_b"}},
     "host 'site-2': a client cannot be named 'server'"),
    ({"server1": {"nvflare_site_name": "localhost"}},
     "host 'server1': the server name 'localhost' is every machine's own name (/etc/hosts, the resolver): the "
     "participants that dial it would reach themselves"),
    ({"server1": {"nvflare_site_name": "fl.localhost"}}, "host 'server1': the server name 'fl.localhost' is every"),
    ({"server1": {"nvflare_site_name": "127.0.0.1"}}, "host 'server1': the server name '127.0.0.1' is every"),
    ({"site_1": {"nvflare_site_name": "localhost"}},
     "host 'site-1': the client name 'localhost' is every machine's own name (/etc/hosts, the resolver): it names no "
     "one machine"),
    # the server itself may be called 'server'
    ({"server1": {"nvflare_site_name": "server"}}, None),
    ({"site_1": {"ansible_host": ""}},
     "host 'site-1': ansible_host is empty, so Ansible would connect to no address; give the host's address or name, "
     "or remove ansible_host to connect to 'site-1'"),
    ({"site_1": {"ansible_host": "  "}}, "host 'site-1': ansible_host is empty"),
    ({"site_1": {"ansible_host": "", "ansible_connection": "local"}}, None),
])
def test_names_nvflare_keeps_and_empty_addresses_are_problems(updates, said):
    g, hv = inv(**updates)
    found = federation(g, hv, host="localhost")["problems"]
    if said is None:
        assert found == []
        return
    assert len(found) == 1 and found[0].startswith(said), found


@pytest.mark.parametrize("updates, said", [
    # a local server and a client over SSH to this machine's own sshd
    ({"server1": {"ansible_connection": "local"}, "site_1": {"ansible_host": "127.0.0.1"}},
     "host 'server1' has ansible_connection local and host 'site-1' is reached over SSH at a loopback address on "
     "port 22 (site-1: 127.0.0.1), so both are this control node"),
    ({"site_2": {"ansible_connection": "local"}, "server1": {"ansible_host": "localhost"},
      "site_1": {"ansible_host": "::1"}},
     "host 'site-2' has ansible_connection local and hosts server1, site-1 are reached over SSH at a loopback address "
     "on port 22 (server1: localhost, site-1: ::1), so all are this control node"),
    # a port forwarded on the loopback reaches another machine (a container, a VM)
    ({"server1": {"ansible_connection": "local"}, "site_1": {"ansible_host": "127.0.0.1", "ansible_port": 2222}},
     None),
    # no local host: two SSH hosts on the loopback are a machine problem of every playbook, not this one
    ({"site_1": {"ansible_host": "127.0.0.1"}}, None),
])
def test_a_local_host_and_ssh_to_this_machine_are_a_deploy_problem(updates, said):
    g, hv = inv(**updates)
    out = federation(g, hv, host="localhost")
    if said is None:
        assert out["deploy_problems"] == []
        return
    assert len(out["deploy_problems"]) == 1 and out["deploy_problems"][0].startswith(said), out["deploy_problems"]


@pytest.mark.parametrize("book, refused", [("site.yml", True), ("playbooks/status.yml", False)])
def test_a_deploy_stops_on_two_hosts_on_the_control_node(tmp_path, book, refused):
    """Through ansible-playbook: site.yml stops in its first play, before the bootstrap or provisioning (no project
    is made); status.yml, which deploys nothing, goes on past it."""
    ws = tmp_path / "ws"
    (tmp_path / "inv.yml").write_text(
        "all:\n"
        "  vars: {nvflare_workspace: \"%s\", nvflare_project_name: fed, ansible_python_interpreter: \"%s\"}\n"
        "  children:\n"
        "    nvflare_server: {hosts: {s: {ansible_connection: local}}}\n"
        "    nvflare_clients: {hosts: {c1: {ansible_connection: local}, c2: {ansible_host: 192.0.2.2}}}\n"
        % (ws, sys.executable))
    proc = run_playbook(tmp_path, "-i", "inv.yml", os.path.join(ROOT, book), timeout=240)
    out = " ".join(proc.stdout.split())
    said = "hosts 's', 'c1' all have ansible_connection local, so each is this control node"
    assert (said in out) is refused, out[-3000:]
    if refused:
        assert proc.returncode != 0 and "PLAY RECAP" in out, out[-3000:]
        assert not ws.exists()
    else:
        # the status table, with both local hosts in it
        assert "| c1 | client |" in out and "| s | server |" in out, out[-3000:]
