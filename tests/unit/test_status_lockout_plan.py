# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.lockout_plan: the server's deny list from provisioning's membership record."""

from __future__ import annotations

import json
import os

import pytest
from ansible.errors import AnsibleFilterError
from conftest import ROOT, flat, run_playbook

from ansible_collections.edgefl.nvflare.plugins.filter.lockout_plan import FilterModule

plan = FilterModule().filters()["lockout_plan"]
CERTS = {"rootCA": {}, "server1": {}, "site-1": {}, "site-2": {}, "admin@nvidia.com": {}}


@pytest.mark.parametrize(
    "provision, remove, clients, disabled, expected",
    [
        # nothing removed ever: nothing to do (a plain site.yml run)
        ({"removed_all": [], "certificates": CERTS}, [], ["site-1", "site-2"], [], ([], [], [], [])),
        # site-3 left the inventory in this run
        ({"removed": ["site-3"], "removed_all": ["site-3"], "certificates": CERTS}, [], ["site-1", "site-2"], [],
         (["site-3"], ["site-3"], [], ["site-3"])),
        # the next run: already disabled, nothing to change, nothing to clean
        ({"removed": [], "removed_all": ["site-3"], "certificates": CERTS}, [], ["site-1", "site-2"], ["site-3"],
         (["site-3"], [], [], [])),
        # remove_client.yml: still in the inventory, named in nvflare_remove_clients
        ({"removed": ["site-2"], "removed_all": ["site-2"], "certificates": {"site-1": {}}}, ["site-2"],
         ["site-1", "site-2"], [], (["site-2"], ["site-2"], [], ["site-2"])),
        # re-added with nvflare_allow_readd: it has a certificate again, so it is enabled
        ({"removed": [], "removed_all": ["site-2"], "certificates": CERTS}, [], ["site-1", "site-2"], ["site-2"],
         ([], [], ["site-2"], [])),
        # a client disabled by hand that was never removed is left alone
        ({"removed_all": [], "certificates": CERTS}, [], ["site-1", "site-2"], ["site-1"], ([], [], [], [])),
        # a provision result without certificates: the inventory decides, removed names stay out
        ({"removed_all": ["site-3"]}, [], ["site-1", "site-3"], ["site-3"], (["site-3"], [], [], [])),
        # a removal whose run was killed after provisioning recorded it and before the lock-out: the next run's
        # provision result no longer lists it as removed; the server still has to refuse it (its device is
        # reported, not cleaned: disabled_earlier_removed)
        ({"removed": [], "removed_all": ["site-3"], "certificates": CERTS}, [], ["site-1", "site-2"], [],
         (["site-3"], ["site-3"], [], [])),
        # no provision in this run at all (remove list set by hand)
        ({}, ["site-4"], ["site-1", "site-4"], [], (["site-4"], ["site-4"], [], ["site-4"])),
        (None, [], ["site-1"], ["site-4"], ([], [], [], [])),
    ],
)
def test_lockout_plan(provision, remove, clients, disabled, expected):
    res = plan(provision, remove, clients, disabled)
    assert (res["deny"], res["disable"], res["enable"], res["removed_now"]) == expected


@pytest.mark.parametrize(
    "provision, allow_readd, expected_enable",
    [
        # provisioning forgot the removal once the name was re-added: allow_readd still enables it
        ({"removed_all": [], "certificates": CERTS}, ["site-2"], ["site-2"]),
        # named in allow_readd but not re-added (no certificate): stays disabled
        ({"removed_all": ["site-3"], "certificates": CERTS}, ["site-3"], []),
        ({"removed_all": [], "certificates": CERTS}, [], []),
    ],
)
def test_lockout_plan_enables_readded_names(provision, allow_readd, expected_enable):
    res = plan(provision, [], ["site-1", "site-2"], ["site-2", "site-3"], allow_readd)
    assert res["enable"] == expected_enable


@pytest.mark.parametrize("provision, remove, disabled, expected", [
    # killed removal (or a re-installed server): disabled now, removed earlier
    ({"removed": [], "removed_all": ["site-3"], "certificates": CERTS}, [], [], ["site-3"]),
    # removed in this run: cleaned, not reported as earlier
    ({"removed": ["site-3"], "removed_all": ["site-3"], "certificates": CERTS}, [], [], []),
    ({"removed_all": ["site-3"], "certificates": CERTS}, ["site-3"], [], []),
    # already disabled: nothing new
    ({"removed": [], "removed_all": ["site-3"], "certificates": CERTS}, [], ["site-3"], []),
])
def test_lockout_plan_reports_names_an_earlier_run_removed(provision, remove, disabled, expected):
    assert plan(provision, remove, ["site-1", "site-2"], disabled)["disabled_earlier_removed"] == expected


def test_lockout_plan_rejects_a_string_list():
    with pytest.raises(AnsibleFilterError, match="remove must be a list"):
        plan({}, "site-3,site-4")


@pytest.mark.parametrize("version, disables", [
    ("2.9.0", True), ("2.8.0rc1", True), ("2.10.1", True), (None, True),
    ("2.7.3", False), ("2.4.2", False), ("2.6.0", False),
])
def test_lockout_plan_disables_only_where_nvflare_can(version, disables):
    """disable_client came with NVFLARE 2.8: on 2.4-2.7 lockout.yml called it and failed, so remove_client.yml
    stopped before the removed device was cleaned, on every run."""
    provision = {"removed": ["site-3"], "removed_all": ["site-3", "site-4"], "certificates": CERTS,
                 "nvflare_version": version}
    res = plan(provision, [], ["site-1", "site-2"], ["site-2"], ["site-2"])
    assert res["server_disables"] is disables
    assert res["deny"] == ["site-3", "site-4"] and res["removed_now"] == ["site-3"]
    if disables:
        expected = (["site-3", "site-4"], ["site-2"], ["site-4"])
    else:
        expected = ([], [], [])
    assert (res["disable"], res["enable"], res["disabled_earlier_removed"]) == expected


def _lockout_run(tmp_path, version, *extra):
    ws = tmp_path / "ws"
    (tmp_path / "inv.yml").write_text(
        "all:\n"
        "  vars: {ansible_connection: ssh, nvflare_workspace: \"%s\", nvflare_project_name: fed}\n"
        "  children:\n"
        "    nvflare_server: {hosts: {s: {ansible_host: 192.0.2.1, ansible_connection: local,\n"
        "                                 ansible_python_interpreter: \"{{ ansible_playbook_python }}\",\n"
        "                                 nvflare_service_root: \"%s\"}}}\n"
        "    nvflare_clients: {hosts: {c1: {ansible_host: 192.0.2.2}, c2: {ansible_host: 192.0.2.3}}}\n"
        % (ws, tmp_path / "server-root"))
    provision = {"removed": ["c2"], "removed_all": ["c2"], "certificates": {"rootCA": {}, "s": {}, "c1": {}},
                 "nvflare_version": version}
    (tmp_path / "prov.json").write_text(json.dumps({"site_provision": provision}))
    proc = run_playbook(tmp_path, "-i", "inv.yml", os.path.join(ROOT, "playbooks", "lockout.yml"), "-e", "@prov.json",
                        "-e", "ansible_ssh_common_args='-o ConnectTimeout=3'", *extra, timeout=180)
    return proc, flat(proc.stdout)


@pytest.mark.parametrize("version", ["2.6.0", "2.9.0"])
def test_lockout_playbook_on_an_nvflare_without_disable_client(tmp_path, version):
    """lockout.yml (remove_client.yml, site.yml) on a federation of NVFLARE 2.4-2.7 called disable_client, which that
    FLARE API lacks: the run failed before the removed device was cleaned, and so did every later run. It says now
    that the server cannot refuse the client, what revokes its certificate, and goes on to the device. With 2.9 the
    server is asked (and here, with no admin kit installed, that fails)."""
    proc, out = _lockout_run(tmp_path, version)
    if version == "2.9.0":
        assert proc.returncode != 0, proc.stdout
        asked = out.split("TASK [Disable the removed clients and enable the re-added ones at the server]")[1]
        assert "fatal: [localhost]: FAILED!" in asked and "is not an NVFLARE admin startup kit" in asked, out
        return
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("NVFLARE 2.6.0 cannot disable a client at the server (disable_client is NVFLARE 2.8 and later): c2 still "
            "holds a certificate the server accepts") in out, out
    assert "To revoke the certificates, rotate the root CA (ansible-playbook playbooks/rotate_ca.yml)" in out
    # the device play ran: c2 (unreachable here) was tried and is named as not cleaned
    assert "TASK [Check that the removed device answers]" in out and "fatal: [c2]: UNREACHABLE!" in out, out
    assert ("Removed c2: NOT disabled at the server (NVFLARE 2.6.0 has no disable_client); devices cleaned (service "
            "stopped, kit deleted): none. Could NOT clean the device of c2 (not in the inventory, or unreachable): stop "
            "its service and delete its kit by hand, and rotate the root CA to revoke its certificate.") in out, out


def test_lockout_playbook_in_check_mode_says_what_it_would_do(tmp_path):
    """remove_client.yml --check reported "Removed site-2: disabled at the server; devices cleaned: site-2" while it
    had changed nothing."""
    proc, out = _lockout_run(tmp_path, "2.6.0", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("Check mode, nothing was changed: would remove c2: NOT disabled at the server (NVFLARE 2.6.0 has no "
            "disable_client); devices to clean (service stopped, kit deleted): none.") in out, out
    assert "Removed c2" not in out
