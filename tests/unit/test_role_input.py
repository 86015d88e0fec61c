# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles' fact-free input rules (plugin_utils/_role_input.py), and where they run: in the first play of site.yml,
before any host is contacted (a real ansible-playbook run against hosts that do not exist). A role's own checks run
them too: test_role_args.py."""

from __future__ import annotations

import json
import os
import sys

import pytest
from ansible_collections.edgefl.nvflare.plugins.plugin_utils import _role_input
from conftest import ROOT, flat, run_playbook, unreachable_inventory


# --- the rules --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, good", [
    ("10.0.0.0/8", True), ("192.168.1.7", True), ("fd00::/8", True), ("::1", True), (" 10.1.0.0/16 ", True),
    ("10.0.0.1/8", False),  # host bits set: ansible.utils.ip (ipaddress, strict) refuses it, so does ufw's role check
    ("not-a-net", False), ("10.0.0.0/33", False), ("", False), (167772160, False), (None, False),
])
def test_source_networks(value, good):
    errors = _role_input.firewall({"nvflare_firewall_source_cidrs": [value]})
    assert (errors == []) is good, errors
    if not good:
        assert errors[0].startswith("nvflare_firewall_source_cidrs must list IP networks in CIDR notation")
        assert "invalid: %s" % value in errors[0]


def test_a_network_with_host_bits_names_its_network():
    errors = _role_input.firewall({"nvflare_firewall_ssh_source_cidrs": ["10.89.50.1/24", "lan"]})
    assert errors == ["nvflare_firewall_ssh_source_cidrs must list IP networks in CIDR notation (e.g. 192.168.1.0/24) "
                      "or addresses; invalid: 10.89.50.1/24 (host bits set: the network is 10.89.50.0/24), lan"]


def test_the_relay_sources_count_only_on_a_relay():
    values = {"nvflare_firewall_relay_source_cidrs": ["bad"]}
    assert _role_input.firewall(values, relay=False) == []
    assert _role_input.firewall(values, relay=True)[0].startswith("nvflare_firewall_relay_source_cidrs must list")


@pytest.mark.parametrize("allow, connection, refused", [
    (False, "ssh", True), ("false", "ssh", True), ("no", "ansible.builtin.ssh", True), (False, "paramiko", True),
    (False, "local", False), (False, "containers.podman.podman", False), (True, "ssh", False), ("yes", "ssh", False),
    (False, "ansible.builtin.paramiko_ssh", True), (False, "ansible.netcommon.libssh", True), (False, None, True),
])
def test_no_ssh_rule_over_ssh_is_refused(allow, connection, refused):
    errors = _role_input.firewall({"nvflare_firewall_allow_ssh": allow}, connection=connection)
    assert bool(errors) is refused, errors
    if refused:
        assert "lock you out" in errors[0]


def test_the_rules_take_every_host_context():
    """errors() hands each rule the same context; only the firewall's reads it."""
    context = {"relay": True, "connection": "local"}
    assert _role_input.errors("nvflare_firewall", {"nvflare_firewall_relay_source_cidrs": ["x"],
                                                   "nvflare_firewall_allow_ssh": False}, **context) == [
        "nvflare_firewall_relay_source_cidrs must list IP networks in CIDR notation (e.g. 192.168.1.0/24) or "
        "addresses; invalid: x"]
    assert _role_input.errors("nvflare_service", {"nvflare_service_admin_port": 0}, **context) == [
        "nvflare_service_admin_port must be a TCP port between 1 and 65535, got 0"]
    assert _role_input.errors("nvflare_hosts", {}, **context) == []
    assert _role_input.errors("nvflare_venv", {"nvflare_venv_path": "/"}, **context) == [
        "nvflare_venv_path must be an absolute path other than /, got '/'"]


def test_ports():
    errors = _role_input.firewall({"nvflare_firewall_fed_learn_port": "8002", "nvflare_firewall_admin_port": 0,
                                   "nvflare_firewall_relay_port": "abc", "nvflare_firewall_ssh_port": None})
    assert errors == ["nvflare_firewall_admin_port must be a TCP port between 1 and 65535, got 0",
                      "nvflare_firewall_relay_port must be a TCP port between 1 and 65535, got 'abc'"]
    assert "nvflare_service_admin_port" in _role_input.service({"nvflare_service_admin_port": 70000})[0]


@pytest.mark.parametrize("name, value", [
    ("nvflare_service_role", "worker"), ("nvflare_service_site_name", "-site"), ("nvflare_service_kit_src", "kits/a"),
    ("nvflare_service_workspace", "/"), ("nvflare_service_workspace", "rel"), ("nvflare_service_storage_dir", "/tmp"),
    ("nvflare_service_storage_dir", "/tmp/jobs"), ("nvflare_service_unit_name", "nvflare"),
    ("nvflare_service_root", "/tmp/nv"), ("nvflare_service_root", "nv"),
    ("nvflare_service_wait_timeout", 0), ("nvflare_service_wait_timeout", "30s"), ("nvflare_service_wait_timeout", True),
])
def test_service_values_refused(name, value):
    errors = _role_input.service({name: value})
    assert len(errors) == 1 and errors[0].startswith(name + " must be "), errors


def test_service_values_accepted():
    assert _role_input.service({
        "nvflare_service_role": "relay", "nvflare_service_site_name": "site-1", "nvflare_service_kit_src": " /k/site-1",
        "nvflare_service_workspace": "/opt/nvflare/ws", "nvflare_service_storage_dir": "/var/lib/nvflare/tmpx",
        "nvflare_service_root": "/srv/nvflare", "nvflare_service_unit_name": "nvflare-client@a.service", "nvflare_service_wait_timeout": "30",
        "nvflare_service_environment": {"HF_TOKEN": "x y", "_A1": 5}}) == []


def test_the_environment_message_never_holds_a_value():
    errors = _role_input.service({"nvflare_service_environment": {"OK": "fine", "BAD NAME": "s3cret-a",
                                                                  "TOKEN": "s3cret-b\nExecStartPre=/bin/id"}})
    assert len(errors) == 1 and errors[0].startswith("invalid nvflare_service_environment: ")
    assert '"BAD NAME"' in errors[0] and 'the values of "TOKEN"' in errors[0] and '"OK"' not in errors[0]
    assert "s3cret" not in errors[0] and "ExecStartPre" not in errors[0]


def test_venv(tmp_path):
    wheel = tmp_path / "torch-2.1-cp38-linux_aarch64.whl"
    wheel.write_text("")
    assert _role_input.venv({"nvflare_venv_version": "2.9.0", "nvflare_venv_path": "/opt/nvflare/venv",
                             "nvflare_venv_user": "nvflare", "nvflare_venv_local_wheels": [str(wheel)]}) == []
    errors = _role_input.venv({"nvflare_venv_version": "2.x", "nvflare_venv_path": "/", "nvflare_venv_wheelhouse_dir": "w",
                               "nvflare_venv_user": "Bad User", "nvflare_venv_group": "ok_group",
                               "nvflare_venv_local_wheels": [str(wheel), str(tmp_path / "gone.whl"), "notes.txt"]})
    assert [e.split(" ", 1)[0] for e in errors] == ["nvflare_venv_version", "nvflare_venv_path",
                                                    "nvflare_venv_wheelhouse_dir", "nvflare_venv_user",
                                                    "nvflare_venv_local_wheels", "nvflare_venv_local_wheels:"], errors
    assert "gone.whl" in errors[-1] and str(wheel) not in errors[-1] and "notes.txt" in errors[-2]


@pytest.mark.parametrize("values, remote_user, said", [
    ({"nvflare_venv_user": "root"}, "", "nvflare_venv_user must not be root, got 'root'"),
    ({"nvflare_venv_group": "root"}, "", "nvflare_venv_group must not be a group that grants root"),
    ({"nvflare_venv_group": "sudo"}, "", "(root, sudo, wheel, admin, docker, lxd, disk, shadow), got 'sudo'"),
    ({"nvflare_venv_group": "docker"}, "", "got 'docker': NVFLARE runs the jobs' code as that account"),
    ({"nvflare_venv_group": "video"}, "", None),
    ({"nvflare_venv_user": "ubuntu"}, "ubuntu", "'ubuntu' is the account Ansible logs in with (ansible_user)"),
    ({"nvflare_venv_user": "nvflare"}, "ubuntu", None),
    ({"nvflare_venv_user": "ubuntu"}, "", None),  # no ansible_user: the probe on the host judges the account
    ({}, "root", None),  # the default user (nvflare), logging in as root
])
def test_venv_user_is_never_root_or_the_login_account(values, remote_user, said):
    errors = _role_input.errors("nvflare_venv", values, relay=False, connection="ssh", remote_user=remote_user)
    if said is None:
        assert errors == []
    else:
        assert len(errors) == 1 and said in errors[0] and ", the default, is created" in errors[0], errors


def test_service_user_is_not_root():
    assert _role_input.service({"nvflare_service_user": "nvflare"}) == []
    assert _role_input.service({"nvflare_service_user": "root"}) == [
        "nvflare_service_user must be an unprivileged account (the unit runs NVFLARE as it; nvflare_venv_user, the "
        "default, is one), got 'root'"]
    errors = _role_input.service({"nvflare_service_group": "sudo"})
    assert len(errors) == 1 and errors[0].startswith("nvflare_service_group must not be a group that grants root"), errors


@pytest.mark.parametrize("client_vars, said", [
    ("ansible_user: jetson, nvflare_venv_user: jetson", "nvflare_venv_user 'jetson' is the account Ansible logs in with"),
    ("nvflare_venv_user: root", "nvflare_venv_user must not be root, got 'root'"),
])
def test_site_yml_refuses_the_login_account_or_root_as_the_service_user_first(tmp_path, client_vars, said):
    """Before any host is contacted (the hosts are TEST-NET addresses that never answer) and before the workspace."""
    ws = unreachable_inventory(tmp_path, client_vars)
    proc = run_playbook(tmp_path, "-i", "inv.yml", os.path.join(ROOT, "site.yml"), timeout=120)
    out = " ".join(proc.stdout.split())
    assert proc.returncode != 0, proc.stdout
    assert "invalid input on c1: nvflare_venv: nvflare_venv_" in out and said in out, out
    assert "UNREACHABLE" not in proc.stdout and "Bootstrap" not in proc.stdout, proc.stdout
    assert not ws.exists()


def test_hosts_entries():
    good = [{"name": "server1", "address": "10.0.0.1"}, {"name": "fl.example.org", "address": "fd00::1"}]
    assert _role_input.hosts({"nvflare_hosts_entries": good, "nvflare_hosts_extra_entries": []}) == []
    errors = _role_input.hosts({
        "nvflare_hosts_entries": [{"name": "server1", "address": "jetson-01.local"}, "server1"],
        "nvflare_hosts_extra_entries": [{"name": "-bad", "address": "10.0.0.2"}, {"address": "10.0.0.3"},
                                        {"name": "relay", "address": "10.0.0.300"},
                                        {"name": "server1", "address": "10.0.0.4"}]})
    assert errors[0].startswith(
        "nvflare_hosts_entries and nvflare_hosts_extra_entries hold invalid entries: server1 (got address "
        "jetson-01.local), server1 (got no mapping), -bad (got address 10.0.0.2), <no name> (got address 10.0.0.3), "
        "relay (got address 10.0.0.300). Each entry needs a host name and an IP address."), errors
    assert 'nvflare_address: "{{ ansible_facts.default_ipv4.address }}"' in errors[0]
    assert errors[1] == "nvflare_hosts_entries and nvflare_hosts_extra_entries map these names more than once: server1"


def test_roles_without_rules_and_unset_values_pass():
    assert _role_input.errors("nvflare_jetson", {"nvflare_jetson_swap_mb": "anything"}) == []
    for role in ("nvflare_firewall", "nvflare_hosts", "nvflare_service", "nvflare_venv"):
        assert _role_input.errors(role, {}) == []


# --- where they run -------------------------------------------------------------------------------------------

def _inventory(tmp_path, **host_vars):
    """Hosts in TEST-NET-1 (RFC 5737) over SSH: nothing answers there, so a run that contacts one would say so."""
    hosts = {"server1": "192.0.2.1", "site-1": "192.0.2.2", "site-2": "192.0.2.3"}
    inv = {"all": {"vars": {"nvflare_workspace": str(tmp_path / "ws"), "ansible_connection": "ssh",
                            "ansible_ssh_common_args": "-o ConnectTimeout=2"},
                   "children": {"nvflare_server": {"hosts": {"server1": {"ansible_host": hosts["server1"]}}},
                                "nvflare_clients": {"hosts": {h: {"ansible_host": hosts[h]} for h in ("site-1", "site-2")}}}}}
    for host, extra in host_vars.items():
        group = "nvflare_server" if host == "server1" else "nvflare_clients"
        inv["all"]["children"][group]["hosts"][host.replace("_", "-")].update(extra)
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inv))
    return path


def test_site_yml_stops_in_its_first_play_naming_every_bad_host(tmp_path):
    inventory = _inventory(tmp_path, site_1={"nvflare_firewall_source_cidrs": ["10.0.0.0/8", "lan"]},
                           site_2={"nvflare_service_environment": {"TOKEN": "s3cret\nx"}})
    proc = run_playbook(ROOT, "-i", inventory, "site.yml", timeout=240)
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode != 0, out[-3000:]
    assert "invalid input on site-1: nvflare_firewall: " in out and "invalid: lan" in out, out[-3000:]
    assert "invalid input on site-2: nvflare_service: invalid nvflare_service_environment" in out, out[-3000:]
    assert "s3cret" not in out
    # no host contacted (the bootstrap's raw task never ran), nothing provisioned, no lock file written
    assert "UNREACHABLE" not in out and "Bootstrap" not in proc.stdout, out[-3000:]
    assert not (tmp_path / "ws").exists()


def test_a_value_from_facts_is_left_to_the_role_and_a_later_import_skips_the_check(tmp_path):
    """The first play has no facts: a source network taken from them passes here (the deploy's role checks read it
    later). A second import of run_lock.yml in the same run skips the check."""
    inventory = _inventory(tmp_path, site_1={
        "nvflare_firewall_source_cidrs": "{{ [ansible_facts.default_ipv4.network ~ '/24'] }}"})
    play = tmp_path / "twice.yml"
    lock = os.path.join(ROOT, "playbooks", "run_lock.yml")
    play.write_text("- ansible.builtin.import_playbook: %s\n  vars: {__edgefl_role_inputs: true}\n" % lock * 2)
    proc = run_playbook(tmp_path, "-i", inventory, play, "-e", "ansible_python_interpreter=" + sys.executable,
                        timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    checks = proc.stdout.split("TASK [Check the roles' input set for this host]")[1:]
    assert len(checks) == 2
    assert "ok: [site-1]" in checks[0] and "skipping: [site-1]" in checks[1], proc.stdout[-3000:]


def test_a_run_limited_to_a_host_without_a_kit_stops_first(tmp_path):
    """site.yml --limit c1 leaves out the control node, so nothing provisions c1's kit: the first play says so
    instead of letting the bootstrap, venv and firewall prepare c1 before the service role finds no kit. With the kit
    there, the run goes on (and finds c1 unreachable)."""
    ws = unreachable_inventory(tmp_path, "ansible_ssh_timeout: 3")
    proc = run_playbook(tmp_path, "-i", "inv.yml", os.path.join(ROOT, "site.yml"), "--limit", "c1",
                        "-e", "nvflare_control_python=%s" % sys.executable, timeout=120)
    out = flat(proc.stdout)
    assert proc.returncode != 0, proc.stdout
    assert "No startup kit for c1 (%s/fed/kits/c1): this run is limited to hosts" % ws in out, out
    assert "--limit c1,localhost" in out and "UNREACHABLE" not in proc.stdout, out
    os.makedirs(str(ws / "fed" / "kits" / "c1"))
    proc = run_playbook(tmp_path, "-i", "inv.yml", os.path.join(ROOT, "site.yml"), "--limit", "c1",
                        "-e", "nvflare_control_python=%s" % sys.executable, timeout=120)
    assert "No startup kit" not in proc.stdout and "UNREACHABLE" in proc.stdout, proc.stdout
