# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The edgefl.nvflare.ufw_state filter on real ufw 0.36.2 output (Debian 12 container, captured 2026-12-01)
and on the output of the role's real probe script (files/probe.sh) run with stand-in commands."""

from __future__ import annotations

import os
import pty
import stat
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.ufw_state import SEPARATOR, FilterModule, parse_added_line

ufw_state = FilterModule().filters()["ufw_state"]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE = os.path.join(ROOT, "roles", "nvflare_firewall", "files", "probe.sh")

# ---- real output of ufw 0.36.2 / dpkg / systemd on Debian 12 (bookworm) ------------------------------------
DPKG_BOTH = "procps\tinstall ok installed\nufw\tinstall ok installed\n"
DPKG_PROCPS_ONLY = "procps\tinstall ok installed\n"  # ufw not installed: dpkg-query prints nothing for it
DPKG_UFW_REMOVED = "procps\tinstall ok installed\nufw\tdeinstall ok config-files\n"

STATUS_INACTIVE = "Status: inactive\n"

# freshly installed: no rule; the package default policies (the "ufw enable" run of the role comes later)
SETTINGS_FRESH = 'IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n'
SETTINGS_REJECT = 'IPV6=yes\nDEFAULT_INPUT_POLICY="REJECT"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n'
SETTINGS_NO_IPV6 = 'IPV6=no\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n'

ADDED_NONE = "Added user rules (see 'ufw status' for running firewall):\n(None)\n"

# the server as the service scenario leaves it: SSH from anywhere, 8002/8003 from the podman network
STATUS_SERVER = """Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), disabled (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW IN    Anywhere                   # edgefl ssh
8002/tcp                   ALLOW IN    10.89.0.0/24               # edgefl nvflare 8002
8003/tcp                   ALLOW IN    10.89.0.0/24               # edgefl nvflare 8003
22/tcp (v6)                ALLOW IN    Anywhere (v6)              # edgefl ssh

"""
ADDED_SERVER = """Added user rules (see 'ufw status' for running firewall):
ufw allow 22/tcp comment 'edgefl ssh'
ufw allow from 10.89.0.0/24 to any port 8002 proto tcp comment 'edgefl nvflare 8002'
ufw allow from 10.89.0.0/24 to any port 8003 proto tcp comment 'edgefl nvflare 8003'
"""

# a mixed host: CIDR, a /32 (printed as a plain address), an IPv6 network, an "any" rule, a rule of the user
STATUS_MIXED = """Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), disabled (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW IN    Anywhere                   # edgefl ssh
8002/tcp                   ALLOW IN    10.89.0.0/24               # edgefl nvflare 8002
8003/tcp                   ALLOW IN    10.89.0.7                  # edgefl nvflare 8003
8002/tcp                   ALLOW IN    Anywhere                   # edgefl nvflare 8002
80/tcp                     ALLOW IN    Anywhere                  
22/tcp (v6)                ALLOW IN    Anywhere (v6)              # edgefl ssh
8003/tcp                   ALLOW IN    2001:db8::/32              # edgefl nvflare 8003
8002/tcp (v6)              ALLOW IN    Anywhere (v6)              # edgefl nvflare 8002
80/tcp (v6)                ALLOW IN    Anywhere (v6)             

"""  # noqa: W291 (ufw pads rules without a comment)
ADDED_MIXED = """Added user rules (see 'ufw status' for running firewall):
ufw allow 22/tcp comment 'edgefl ssh'
ufw allow from 10.89.0.0/24 to any port 8002 proto tcp comment 'edgefl nvflare 8002'
ufw allow from 10.89.0.7 to any port 8003 proto tcp comment 'edgefl nvflare 8003'
ufw allow 8002/tcp comment 'edgefl nvflare 8002'
ufw allow 80/tcp
ufw allow from 2001:db8::/32 to any port 8003 proto tcp comment 'edgefl nvflare 8003'
"""
STATUS_MIXED_REJECT = STATUS_MIXED.replace("Default: deny (incoming)", "Default: reject (incoming)")

# IPV6=no: ufw shows and keeps no (v6) line (and hides the rules of IPv6 sources)
STATUS_NO_IPV6 = """Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), disabled (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW IN    Anywhere                   # edgefl ssh
8002/tcp                   ALLOW IN    Anywhere                   # edgefl nvflare 8002
8003/tcp                   ALLOW IN    Anywhere                   # edgefl nvflare 8003

"""
ADDED_NO_IPV6 = """Added user rules (see 'ufw status' for running firewall):
ufw allow 22/tcp comment 'edgefl ssh'
ufw allow 8002/tcp comment 'edgefl nvflare 8002'
ufw allow 8003/tcp comment 'edgefl nvflare 8003'
"""
# the client as the service scenario leaves it: only SSH
STATUS_CLIENT = """Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), disabled (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW IN    Anywhere                   # edgefl ssh
22/tcp (v6)                ALLOW IN    Anywhere (v6)              # edgefl ssh

"""
ADDED_CLIENT = "Added user rules (see 'ufw status' for running firewall):\nufw allow 22/tcp comment 'edgefl ssh'\n"

APT_LIST = "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4\n"
MARKER = "nvflare_firewall.packages"
MARKER_UFW = ("iptables\nlibip6tc2\nlibjansson4\nlibnetfilter-conntrack3\nlibnfnetlink0\nlibnftables1\n"
              "libnftnl11\nnetbase\nnftables\nufw\n")


def probe(dpkg=DPKG_BOTH, status=STATUS_SERVER, settings=SETTINGS_FRESH, boot="enabled\n", added=ADDED_SERVER,
          apt_lists=APT_LIST, state_dir="", marker=""):
    """The probe's stdout: the sections in the order files/probe.sh prints them."""
    return (SEPARATOR + "\n").join([dpkg, status, settings, boot, added, apt_lists, state_dir, marker])


SERVER = {"ports": [8002, 8003], "sources": ["10.89.0.0/24"], "open_ports": True}
CLIENT = {"ports": [8002, 8003], "sources": ["10.89.0.0/24"], "open_ports": False}


def rule(port, source="any", comment=None):
    return {"port": str(port), "proto": "tcp", "from_ip": source,
            "comment": comment or ("edgefl ssh" if port == 22 else "edgefl nvflare %s" % port)}


# ---- packages ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dpkg, packages, missing", [
    (DPKG_BOTH, ["ufw", "procps"], []),
    (DPKG_PROCPS_ONLY, ["ufw", "procps"], ["ufw"]),
    (DPKG_UFW_REMOVED, ["ufw", "procps"], ["ufw"]),
    ("", ["ufw", "procps"], ["ufw", "procps"]),
    (DPKG_BOTH, ["ufw", "procps=2:4.0.2-3", "procps:amd64"], []),
    (DPKG_BOTH, ["ufw", "procps", "iptables"], ["iptables"]),
])
def test_missing_packages(dpkg, packages, missing):
    state = ufw_state(probe(dpkg=dpkg), packages=packages, **SERVER)
    assert state["packages_missing"] == missing
    assert state["packages_ok"] is (missing == [])


def test_no_ufw_work_before_ufw_is_installed():
    # check mode on a fresh host: ufw missing, so nothing of ufw can be asked of the ufw module
    state = ufw_state(probe(dpkg=DPKG_PROCPS_ONLY, status="", settings="", boot="", added="", apt_lists=""), **SERVER)
    assert state["packages_missing"] == ["ufw"]
    assert state["apt_lists_present"] is False
    for key in ("rules_to_add", "rules_to_delete", "policies_to_set"):
        assert state[key] == []
    assert (state["enable"], state["enable_at_boot"], state["ipv6_setting_change"]) == (False, False, None)


@pytest.mark.parametrize("apt_lists, present", [(APT_LIST, True), ("", False), ("\n", False)])
def test_apt_lists(apt_lists, present):
    assert ufw_state(probe(apt_lists=apt_lists), **SERVER)["apt_lists_present"] is present


# ---- a run that changes nothing, and a freshly installed ufw ----------------------------------------------------
@pytest.mark.parametrize("status, added, wanted", [
    (STATUS_SERVER, ADDED_SERVER, SERVER),
    (STATUS_CLIENT, ADDED_CLIENT, CLIENT),
])
def test_converged_host_needs_nothing(status, added, wanted):
    state = ufw_state(probe(status=status, added=added), **wanted)
    assert state["active"] is True
    assert state["rules_to_add"] == state["rules_to_delete"] == state["policies_to_set"] == []
    assert (state["enable"], state["enable_at_boot"], state["ipv6_setting_change"]) == (False, False, None)


@pytest.mark.parametrize("status, added, wanted", [
    (STATUS_SERVER, ADDED_SERVER, SERVER),
    (STATUS_CLIENT, ADDED_CLIENT, CLIENT),
])
def test_probe_output_from_a_terminal_reads_the_same(status, added, wanted):
    # the script module over SSH with become runs the probe on a terminal: every line ends in CRLF
    lf = probe(status=status, added=added)
    crlf = lf.replace("\n", "\r\n")
    assert ufw_state(crlf, **wanted) == ufw_state(lf, **wanted)
    assert ufw_state(crlf, **wanted)["active"] is True


def test_fresh_ufw_on_the_server():
    # inactive: rules cannot be confirmed (they are all added), the package's policies are read from
    # /etc/default/ufw (already deny/allow), the boot unit is enabled by the package
    state = ufw_state(probe(status=STATUS_INACTIVE, added=ADDED_NONE), **SERVER)
    assert state["active"] is False
    assert state["rules_to_add"] == [rule(22), rule(8002, "10.89.0.0/24"), rule(8003, "10.89.0.0/24")]
    assert state["rules_to_delete"] == []
    assert state["policies_to_set"] == []
    assert (state["enable"], state["enable_at_boot"]) == (True, False)


def test_fresh_ufw_on_a_client_closes_nothing():
    # `ufw show added` proves no rule mentions 8002/8003: nothing to close
    state = ufw_state(probe(status=STATUS_INACTIVE, added=ADDED_NONE), **CLIENT)
    assert state["rules_to_add"] == [rule(22)]
    assert state["rules_to_delete"] == []


# ---- rules present: v4, (v6), CIDR, /32, IPv6 sources ------------------------------------------------------
@pytest.mark.parametrize("wanted, ipv6, to_add", [
    # SSH from any with IPv6 on needs both the v4 and the (v6) line: both present
    ({"ports": [8002], "sources": [], "open_ports": True}, True, []),
    # 8003 from any is only there from 10.89.0.7 and 2001:db8::/32
    ({"ports": [8003], "sources": [], "open_ports": True}, True, [rule(8003)]),
    # CIDR source: the v4 line alone proves it
    ({"ports": [8002], "sources": ["10.89.0.0/24"], "open_ports": True}, True, []),
    # a /32 is printed as a plain address: cannot be confirmed, so it runs (the ufw module reports no change)
    ({"ports": [8003], "sources": ["10.89.0.7/32"], "open_ports": True}, True, [rule(8003, "10.89.0.7/32")]),
    ({"ports": [8003], "sources": ["10.89.0.7"], "open_ports": True}, True, []),
    # an IPv6 source network: ufw prints it without (v6)
    ({"ports": [8003], "sources": ["2001:db8::/32"], "open_ports": True}, True, []),
    # a source that is not there, next to one that is
    ({"ports": [8002], "sources": ["10.89.0.0/24", "192.168.1.0/24"], "open_ports": True}, True,
     [rule(8002, "192.168.1.0/24")]),
    # duplicated ports (admin port = fed_learn port) are handled once
    ({"ports": [8002, "8002"], "sources": ["192.168.1.0/24"], "open_ports": True}, True,
     [rule(8002, "192.168.1.0/24")]),
])
def test_rules_to_add_on_an_active_firewall(wanted, ipv6, to_add):
    state = ufw_state(probe(status=STATUS_MIXED, added=ADDED_MIXED), ipv6=ipv6, **wanted)
    assert state["rules_to_add"] == to_add


def test_any_source_needs_the_v6_line_when_ipv6_is_on():
    # with IPv6 wanted, the v4 lines alone do not prove the "any" rules (ufw has not loaded them for v6 yet)
    state = ufw_state(probe(status=STATUS_NO_IPV6, added=ADDED_NO_IPV6, settings=SETTINGS_NO_IPV6),
                      ports=[8002, 8003], open_ports=True, ipv6=True)
    assert state["ipv6_setting_change"] == "yes"
    assert state["rules_to_add"] == [rule(22), rule(8002), rule(8003)]
    # IPv6 off: the v4 lines are enough
    state = ufw_state(probe(status=STATUS_NO_IPV6, added=ADDED_NO_IPV6, settings=SETTINGS_NO_IPV6),
                      ports=[8002, 8003], open_ports=True, ipv6=False)
    assert state["ipv6_setting_change"] is None
    assert state["rules_to_add"] == []


@pytest.mark.parametrize("ssh, to_add", [
    ({"allow_ssh": False}, []),
    ({"ssh_port": 2222}, [rule(2222, comment="edgefl ssh")]),
    ({"ssh_port": "22"}, []),
    ({"ssh_sources": ["10.0.0.0/8"]}, [rule(22, "10.0.0.0/8")]),
])
def test_ssh_rule(ssh, to_add):
    state = ufw_state(probe(status=STATUS_CLIENT, added=ADDED_CLIENT), **dict(CLIENT, **ssh))
    assert state["rules_to_add"] == to_add


def test_ssh_comes_first():
    state = ufw_state(probe(status=STATUS_INACTIVE, added=ADDED_NONE), ssh_port=2222, **SERVER)
    comments = [r["comment"] for r in state["rules_to_add"]]
    assert comments == ["edgefl ssh", "edgefl nvflare 8002", "edgefl nvflare 8003"]


# ---- closing ports (nvflare_firewall_open_nvflare_ports: false) ---------------------------------------------
def commands(state):
    return [r["command"] for r in state["rules_to_delete"]]


SERVER_8002 = "ufw allow from 10.89.0.0/24 to any port 8002 proto tcp comment 'edgefl nvflare 8002'"
SERVER_8003 = "ufw allow from 10.89.0.0/24 to any port 8003 proto tcp comment 'edgefl nvflare 8003'"


@pytest.mark.parametrize("status, added, sources, to_delete", [
    # the server's rules, now on a host that must not have them
    (STATUS_SERVER, ADDED_SERVER, ["10.89.0.0/24"], [SERVER_8002, SERVER_8003]),
    # no rule of ours for the ports: nothing to close
    (STATUS_CLIENT, ADDED_CLIENT, ["10.89.0.0/24"], []),
    (STATUS_INACTIVE, ADDED_CLIENT, [], []),
    # inactive: the rules ufw keeps are what counts, whatever the sources asked for now
    (STATUS_INACTIVE, ADDED_SERVER, [], [SERVER_8002, SERVER_8003]),
    # show added unreadable and ufw inactive: cannot prove anything, so it runs
    (STATUS_INACTIVE, "", [], ["ufw allow from any to any port 8002 proto tcp comment 'edgefl nvflare 8002'",
                               "ufw allow from any to any port 8003 proto tcp comment 'edgefl nvflare 8003'"]),
    # a rule of the user (no comment of ours) is never touched, even on the port
    (STATUS_INACTIVE, ADDED_NONE.replace("(None)", "ufw allow 18002/tcp\nufw allow 8002/tcp"), [], []),
])
def test_rules_to_delete(status, added, sources, to_delete):
    state = ufw_state(probe(status=status, added=added), ports=[8002, 8003], sources=sources, open_ports=False)
    assert commands(state) == to_delete
    assert [r for r in state["rules_to_add"] if r["comment"] != "edgefl ssh"] == []


def test_closing_only_the_port_that_is_there():
    added = ADDED_NONE.replace("(None)", "ufw allow 8003/tcp comment 'edgefl nvflare 8003'")
    state = ufw_state(probe(status=STATUS_INACTIVE, added=added), ports=[8002, 8003], open_ports=False)
    assert commands(state) == ["ufw allow 8003/tcp comment 'edgefl nvflare 8003'"]
    # what the role passes to community.general.ufw (delete: true)
    assert state["rules_to_delete"][0] == {
        "rule": "allow", "route": False, "direction": None, "interface": None, "from_ip": "any", "from_port": None,
        "to_ip": "any", "to_port": "8003", "proto": "tcp", "app": None, "comment": "edgefl nvflare 8003",
        "command": "ufw allow 8003/tcp comment 'edgefl nvflare 8003'"}


# ---- exactly the wanted rules: what we added and no longer want goes -----------------------------------------
def test_port_change_deletes_the_old_rule():
    # the server of the service scenario, its admin port moved from 8003 to 8004
    state = ufw_state(probe(), ports=[8002, 8004], sources=["10.89.0.0/24"], open_ports=True)
    assert state["rules_to_add"] == [rule(8004, "10.89.0.0/24")]
    assert commands(state) == [SERVER_8003]


def test_unchanged_server_deletes_nothing():
    state = ufw_state(probe(), **SERVER)
    assert state["rules_to_add"] == [] and state["rules_to_delete"] == []


def test_narrowed_sources_delete_the_wider_rules():
    # the mixed host: 8002 from any and 8003 from 10.89.0.7 and 2001:db8::/32, now only 10.89.0.0/24
    state = ufw_state(probe(status=STATUS_MIXED, added=ADDED_MIXED), **SERVER)
    assert state["rules_to_add"] == [rule(8003, "10.89.0.0/24")]
    assert commands(state) == [
        "ufw allow from 10.89.0.7 to any port 8003 proto tcp comment 'edgefl nvflare 8003'",
        "ufw allow 8002/tcp comment 'edgefl nvflare 8002'",
        "ufw allow from 2001:db8::/32 to any port 8003 proto tcp comment 'edgefl nvflare 8003'",
    ]
    # the user's 80/tcp and our SSH rule stay
    assert not any("80/tcp" in c or "edgefl ssh" in c for c in commands(state))


@pytest.mark.parametrize("sources, deleted", [
    # ufw keeps a /32 as the plain address and a network with host bits as its network: the same rule
    (["10.89.0.7/32", "any"], [
        "ufw allow from 10.89.0.0/24 to any port 8002 proto tcp comment 'edgefl nvflare 8002'",
        "ufw allow from 2001:db8::/32 to any port 8003 proto tcp comment 'edgefl nvflare 8003'"]),
    (["10.89.0.9/24", "10.89.0.7", "2001:db8:0:0::/32", "any"], []),
])
def test_sources_compare_as_ufw_keeps_them(sources, deleted):
    added = ADDED_MIXED.replace("ufw allow 8002/tcp comment 'edgefl nvflare 8002'",
                                "ufw allow 8002/tcp comment 'edgefl nvflare 8002'\n"
                                "ufw allow 8003/tcp comment 'edgefl nvflare 8003'")
    state = ufw_state(probe(status=STATUS_MIXED, added=added), ports=[8002, 8003], sources=sources, open_ports=True)
    assert commands(state) == deleted


def test_a_rule_of_ours_in_another_form_is_replaced():
    added = ADDED_CLIENT + "ufw allow in on eth0 to any port 8002 proto tcp comment 'edgefl nvflare 8002'\n"
    state = ufw_state(probe(status=STATUS_CLIENT, added=added), ports=[8002], open_ports=True)
    assert state["rules_to_add"] == [rule(8002)]
    assert commands(state) == ["ufw allow in on eth0 to any port 8002 proto tcp comment 'edgefl nvflare 8002'"]


# ---- the SSH rule: the port of the live connection ----------------------------------------------------------------
def ssh_probe(connection, added=ADDED_CLIENT, status=STATUS_CLIENT):
    return probe(status=status, added=added) + SEPARATOR + "\n" + connection


@pytest.mark.parametrize("connection, port", [
    ("10.89.0.1 51234 10.89.0.11 2222\n", "2222"),
    ("fe80::1%eth0 40000 fe80::2 22\n", "22"),
    ("", None),
    ("garbage\n", None),
    ("10.89.0.1 51234 10.89.0.11 99999\n", None),
])
def test_live_ssh_port_is_read(connection, port):
    assert ufw_state(ssh_probe(connection), **CLIENT)["live_ssh_port"] == port


def test_ssh_on_a_non_standard_port_moves_the_rule():
    # sshd moved to 2222 and Ansible connects there: 2222 opens first, then the old 22 rule of ours goes
    state = ufw_state(ssh_probe("10.89.0.1 51234 10.89.0.11 2222\n"), ssh_port_fallback=22, **CLIENT)
    assert state["ssh_ports"] == ["2222"]
    assert state["rules_to_add"] == [rule(2222, comment="edgefl ssh")]
    assert commands(state) == ["ufw allow 22/tcp comment 'edgefl ssh'"]


@pytest.mark.parametrize("connection, ssh_port, fallback, ports", [
    ("", None, 22, ["22"]),
    ("", None, "2200", ["2200"]),  # no SSH (podman, local): ansible_port
    ("10.89.0.1 5 10.89.0.11 22\n", None, 2200, ["22"]),  # the live port wins over ansible_port
    ("10.89.0.1 5 10.89.0.11 22\n", 2222, 22, ["2222", "22"]),  # set explicitly: the live one stays open too
    ("10.89.0.1 5 10.89.0.11 2222\n", "2222", 22, ["2222"]),
])
def test_ssh_port_choice(connection, ssh_port, fallback, ports):
    state = ufw_state(ssh_probe(connection), ssh_port=ssh_port, ssh_port_fallback=fallback, **CLIENT)
    assert state["ssh_ports"] == ports
    assert [r["port"] for r in state["rules_to_add"]] == [p for p in ports if p != "22"]
    assert commands(state) == ([] if "22" in ports else ["ufw allow 22/tcp comment 'edgefl ssh'"])


@pytest.mark.parametrize("ssh_port, fallback", [(0, 22), ("x", 22), (70000, 22), (None, 0)])
def test_bad_ssh_port(ssh_port, fallback):
    with pytest.raises(AnsibleFilterError, match="TCP port"):
        ufw_state(ssh_probe(""), ssh_port=ssh_port, ssh_port_fallback=fallback, **CLIENT)


def test_narrowed_ssh_sources_and_no_ssh():
    state = ufw_state(probe(status=STATUS_CLIENT, added=ADDED_CLIENT), ssh_sources=["10.0.0.0/8"], **CLIENT)
    assert state["rules_to_add"] == [rule(22, "10.0.0.0/8")]
    assert commands(state) == ["ufw allow 22/tcp comment 'edgefl ssh'"]
    state = ufw_state(probe(status=STATUS_CLIENT, added=ADDED_CLIENT), allow_ssh=False, **CLIENT)
    assert state["rules_to_add"] == [] and commands(state) == ["ufw allow 22/tcp comment 'edgefl ssh'"]


# ---- default policies and the IPv6 switch --------------------------------------------------------------------
@pytest.mark.parametrize("status, settings, incoming, policies", [
    (STATUS_MIXED, SETTINGS_FRESH, "deny", []),
    (STATUS_MIXED, SETTINGS_FRESH, "reject", [{"direction": "incoming", "policy": "reject"}]),
    (STATUS_MIXED_REJECT, SETTINGS_REJECT, "reject", []),
    (STATUS_MIXED_REJECT, SETTINGS_REJECT, "deny", [{"direction": "incoming", "policy": "deny"}]),
    # active: the running firewall is what counts, not the file
    (STATUS_MIXED, SETTINGS_REJECT, "deny", []),
    # inactive: /etc/default/ufw is what counts
    (STATUS_INACTIVE, SETTINGS_REJECT, "deny", [{"direction": "incoming", "policy": "deny"}]),
    (STATUS_INACTIVE, SETTINGS_REJECT, "reject", []),
    (STATUS_INACTIVE, 'DEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="DROP"\n', "deny",
     [{"direction": "outgoing", "policy": "allow"}]),
    # nothing readable: both are set
    (STATUS_INACTIVE, "", "deny", [{"direction": "incoming", "policy": "deny"},
                                   {"direction": "outgoing", "policy": "allow"}]),
])
def test_policies(status, settings, incoming, policies):
    state = ufw_state(probe(status=status, settings=settings, added=ADDED_MIXED), default_incoming=incoming,
                      ports=[8002], open_ports=True)
    assert state["policies_to_set"] == policies


@pytest.mark.parametrize("settings, ipv6, change", [
    (SETTINGS_FRESH, True, None),
    (SETTINGS_FRESH, False, "no"),
    (SETTINGS_NO_IPV6, False, None),
    (SETTINGS_NO_IPV6, "true", "yes"),
    ('IPV6="yes"\n', True, None),
    ("", True, "yes"),
])
def test_ipv6_switch(settings, ipv6, change):
    state = ufw_state(probe(settings=settings), ipv6=ipv6, **SERVER)
    assert state["ipv6_setting_change"] == change
    if settings == SETTINGS_FRESH:
        assert state["settings"] == {"IPV6": "yes", "DEFAULT_INPUT_POLICY": "DROP", "DEFAULT_OUTPUT_POLICY": "ACCEPT"}


@pytest.mark.parametrize("boot, at_boot", [("enabled\n", True), ("disabled\n", False), ("", False),
                                           ("masked\n", False)])
def test_boot_unit(boot, at_boot):
    assert ufw_state(probe(boot=boot), **SERVER)["enable_at_boot"] is (not at_boot)


def test_bad_input():
    with pytest.raises(AnsibleFilterError, match="stdout of the probe"):
        ufw_state({"stdout": ""})
    with pytest.raises(AnsibleFilterError, match="default_incoming"):
        ufw_state(probe(), default_incoming="drop")
    with pytest.raises(AnsibleFilterError, match="open_ports must be a boolean"):
        ufw_state(probe(), open_ports="perhaps")


# ---- `ufw show added` lines -----------------------------------------------------------------------------------
@pytest.mark.parametrize("line, expected", [
    ("ufw allow 22/tcp comment 'edgefl ssh'",
     {"rule": "allow", "from_ip": "any", "to_ip": "any", "to_port": "22", "proto": "tcp", "comment": "edgefl ssh"}),
    ("ufw allow from 10.89.0.0/24 to any port 8002 proto tcp comment 'edgefl nvflare 8002'",
     {"from_ip": "10.89.0.0/24", "to_port": "8002", "proto": "tcp", "comment": "edgefl nvflare 8002"}),
    ("ufw allow from 2001:db8::/32 to any port 8003 proto tcp comment 'edgefl nvflare 8003'",
     {"from_ip": "2001:db8::/32", "to_ip": "any", "to_port": "8003"}),
    ("ufw allow 80/tcp", {"to_port": "80", "proto": "tcp", "comment": None}),
    ("ufw allow 53", {"to_port": "53", "proto": "any"}),
    ("ufw allow OpenSSH", {"app": "OpenSSH", "to_port": None}),
    ("ufw deny out 25/tcp", {"rule": "deny", "direction": "out", "to_port": "25"}),
    ("ufw limit in on eth0 from 1.2.3.4 port 1000 to any port 22 proto tcp",
     {"rule": "limit", "direction": "in", "interface": "eth0", "from_ip": "1.2.3.4", "from_port": "1000",
      "to_port": "22"}),
    ("ufw route allow in on eth0 out on eth1", None),
    ("Added user rules (see 'ufw status' for running firewall):", None),
    ("(None)", None),
])
def test_parse_added_line(line, expected):
    parsed = parse_added_line(line)
    if expected is None:
        assert parsed is None
        return
    assert {k: parsed[k] for k in expected} == expected
    assert parsed["command"] == line


# ---- uninstall ------------------------------------------------------------------------------------------------
def test_uninstall_where_the_role_never_ran():
    # no ufw, no state directory
    state = ufw_state(probe(dpkg=DPKG_PROCPS_ONLY, status="", settings="", boot="", added="", apt_lists=""))
    assert state["uninstall"] == {"disable": False, "purge": [], "rules_to_delete": [], "remove_marker": False,
                                  "remove_state_dir": False}


def test_uninstall_where_the_role_installed_ufw():
    state = ufw_state(probe(status=STATUS_SERVER, added=ADDED_SERVER, state_dir=MARKER + "\n", marker=MARKER_UFW))
    assert state["uninstall"] == {"disable": True, "purge": MARKER_UFW.split(), "rules_to_delete": [],
                                  "remove_marker": True, "remove_state_dir": True}


def test_uninstall_keeps_a_shared_state_directory():
    state = ufw_state(probe(status=STATUS_INACTIVE, added=ADDED_SERVER, state_dir="swapfile.created\n" + MARKER,
                            marker=MARKER_UFW))
    assert state["uninstall"]["disable"] is False  # already inactive
    assert state["uninstall"]["remove_marker"] is True
    assert state["uninstall"]["remove_state_dir"] is False


def test_uninstall_where_ufw_was_there_before():
    # only the NVFLARE rules go; the SSH rule and the user's own rule stay; ufw stays
    state = ufw_state(probe(status=STATUS_MIXED, added=ADDED_MIXED))
    todo = state["uninstall"]
    assert (todo["disable"], todo["purge"], todo["remove_marker"]) == (False, [], False)
    assert [r["command"] for r in todo["rules_to_delete"]] == [
        "ufw allow from 10.89.0.0/24 to any port 8002 proto tcp comment 'edgefl nvflare 8002'",
        "ufw allow from 10.89.0.7 to any port 8003 proto tcp comment 'edgefl nvflare 8003'",
        "ufw allow 8002/tcp comment 'edgefl nvflare 8002'",
        "ufw allow from 2001:db8::/32 to any port 8003 proto tcp comment 'edgefl nvflare 8003'",
    ]


def test_uninstall_where_the_role_installed_only_procps():
    # ufw was there: its NVFLARE rules are deleted, ufw stays, procps goes
    state = ufw_state(probe(status=STATUS_CLIENT, added=ADDED_SERVER, state_dir=MARKER, marker="procps\n"))
    todo = state["uninstall"]
    assert (todo["disable"], todo["purge"]) == (False, ["procps"])
    assert [r["to_port"] for r in todo["rules_to_delete"]] == ["8002", "8003"]


def test_uninstall_again_is_a_no_op():
    # after the purge: ufw's config files gone, no marker
    state = ufw_state(probe(dpkg=DPKG_PROCPS_ONLY, status="", settings="", boot="", added=""))
    assert state["uninstall"]["purge"] == [] and state["uninstall"]["rules_to_delete"] == []


# ---- the real probe script -----------------------------------------------------------------------------------
STUBS = {
    "dpkg-query": 'for p in "$@"; do case $p in ufw|procps) printf "%s\\tinstall ok installed\\n" "$p";; esac; done',
    "ufw": 'case "$*" in "status verbose") cat "$STUB_DIR/status";; "show added") cat "$STUB_DIR/added";; esac',
    "systemctl": 'echo enabled',
}


def stub_env(tmp_path, **extra):
    """The environment the probe runs in: the stand-in commands of run_probe first on PATH."""
    return dict(os.environ, PATH="%s:%s" % (tmp_path / "bin", os.environ["PATH"]), STUB_DIR=str(tmp_path), **extra)


def run_probe(tmp_path, status, added, state_files=(), marker=None, packages=("ufw", "procps")):
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, body in STUBS.items():
        path = stubs / name
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "status").write_text(status)
    (tmp_path / "added").write_text(added)
    state_dir = tmp_path / "state"
    if state_files or marker is not None:
        state_dir.mkdir()
        for name in state_files:
            (state_dir / name).write_text("")
        if marker is not None:
            (state_dir / MARKER).write_text(marker)
    return subprocess.run(["/bin/sh", PROBE, str(state_dir), MARKER] + list(packages), env=stub_env(tmp_path),
                          capture_output=True, text=True, check=True).stdout


def test_probe_script_sections_feed_the_filter(tmp_path):
    out = run_probe(tmp_path, STATUS_SERVER, ADDED_SERVER, state_files=["other"], marker=MARKER_UFW)
    state = ufw_state(out, **SERVER)
    assert state["packages_ok"] is True
    assert state["active"] is True
    assert state["rules_to_add"] == [] and state["enable"] is False and state["enable_at_boot"] is False
    assert state["state_dir_entries"] == sorted(["other", MARKER])
    assert state["installed_by_role"] == MARKER_UFW.split()
    assert state["uninstall"]["remove_state_dir"] is False
    # the host's own /etc/default/ufw and apt lists (if any) are read, not stubbed
    expect_settings = os.path.exists("/etc/default/ufw")
    assert bool(state["settings"]) is expect_settings


def test_probe_script_without_ufw_or_state(tmp_path):
    out = run_probe(tmp_path, "", "", packages=("ufw", "nosuchpackage"))
    state = ufw_state(out, packages=["ufw", "nosuchpackage"], **SERVER)
    assert state["packages_missing"] == ["nosuchpackage"]
    assert state["ufw_usable"] is False
    assert state["state_dir_entries"] == [] and state["marker_present"] is False
    assert out.count(SEPARATOR) == 8


def test_probe_script_finds_the_live_ssh_connection_of_a_parent(tmp_path):
    # as under become: the probe's own environment has no SSH_CONNECTION, the login shell above it has
    run_probe(tmp_path, STATUS_CLIENT, ADDED_CLIENT)  # creates the stubs
    env = stub_env(tmp_path, SSH_CONNECTION="10.89.0.1 51234 10.89.0.11 2222")
    out = subprocess.run(["/bin/sh", "-c", 'env -u SSH_CONNECTION /bin/sh "$0" "$1" "$2" ufw procps; true',
                          PROBE, str(tmp_path / "state"), MARKER], env=env, capture_output=True, text=True,
                         check=True).stdout
    state = ufw_state(out, **CLIENT)
    assert state["live_ssh_port"] == "2222" and state["ssh_ports"] == ["2222"]


def test_probe_script_on_a_terminal_lists_the_state_dir_one_per_line(tmp_path):
    # Over SSH with become (no pipelining) the script module runs the probe on a terminal. `ls -A` printed the
    # state directory in columns there ("nvflare_firewall.packages  venv-parent"), so the marker was never found
    # and the uninstall entry point did nothing until a second run (found when Molecule moved to SSH).
    run_probe(tmp_path, STATUS_SERVER, ADDED_SERVER, state_files=["venv-parent"], marker=MARKER_UFW)
    master, slave = pty.openpty()
    proc = subprocess.Popen(["/bin/sh", PROBE, str(tmp_path / "state"), MARKER, "ufw", "procps"],
                            env=stub_env(tmp_path, COLUMNS="200"),
                            stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait() == 0
    out = b"".join(chunks).decode()
    assert "\r\n" in out  # it did run on a terminal
    state = ufw_state(out, **SERVER)
    assert state["state_dir_entries"] == sorted(["venv-parent", MARKER])
    assert state["uninstall"]["disable"] is True and state["uninstall"]["remove_marker"] is True
    assert state["uninstall"]["purge"] == MARKER_UFW.split()


# probe.sh --install: a stateful dpkg (the names in $STUB_DIR/dpkg are installed) and an apt-get that logs its
# calls and installs each package it is given plus a dependency, libdep; a package named "broken" fails.
INSTALL_STUBS = {
    "dpkg-query": """fmt=$2
shift 2
[ "$#" -gt 0 ] || set -- $(cat "$STUB_DIR/dpkg")
rc=0
for p in "$@"; do
  if grep -qx "$p" "$STUB_DIR/dpkg"; then
    case $fmt in *Package*) printf '%s\\tinstall ok installed\\n' "$p";; *) printf 'install ok installed';; esac
  else rc=1; fi
done
exit $rc""",
    "apt-get": """echo "$*" >>"$STUB_DIR/apt.log"
case " $* " in
*" update "*) echo "Get:1 http://deb.debian.org/debian bookworm InRelease";;
*" install "*)
  for p in "$@"; do
    case $p in
    -*|install|DPkg::*|Dpkg::*) ;;
    broken) echo "E: Unable to locate package broken"; exit 100;;
    *) echo "$p" >>"$STUB_DIR/dpkg";;
    esac
  done
  echo libdep >>"$STUB_DIR/dpkg";;
esac""",
}


def run_install(tmp_path, installed, packages=("ufw", "procps"), marker=None, fresh_lists=False):
    run_probe(tmp_path, STATUS_INACTIVE, ADDED_NONE)  # the ufw and systemctl stand-ins
    for name, body in INSTALL_STUBS.items():
        path = tmp_path / "bin" / name
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(0o755)
    (tmp_path / "dpkg").write_text("".join(p + "\n" for p in installed))
    lists = tmp_path / "lists"
    lists.mkdir()
    if fresh_lists:
        (lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages").write_text("")
    state_dir = tmp_path / "state"
    if marker is not None:
        state_dir.mkdir(exist_ok=True)
        (state_dir / MARKER).write_text(marker)
    proc = subprocess.run(["/bin/sh", PROBE, "--install", str(state_dir), MARKER] + list(packages),
                          env=stub_env(tmp_path, EDGEFL_APT_LISTS=str(lists)), capture_output=True, text=True,
                          check=False)
    apt_log = (tmp_path / "apt.log").read_text().splitlines() if (tmp_path / "apt.log").exists() else []
    return proc, apt_log


def test_probe_install_installs_only_what_is_missing_and_records_it(tmp_path):
    proc, apt_log = run_install(tmp_path, installed=["procps", "bash"], marker="oldpkg\n")
    assert proc.returncode == 0, proc.stdout
    # no package list younger than an hour: refreshed first; then only ufw (procps was there)
    assert [line.split()[-1] for line in apt_log] == ["update", "ufw"]
    assert "install" in apt_log[1].split()
    state = ufw_state(proc.stdout, **SERVER)
    assert state["installed_now"] == ["libdep", "ufw"]
    assert state["packages_ok"] is True
    # added to what an earlier run recorded; only these are purged by the uninstall entry point
    marker = tmp_path / "state" / MARKER
    assert marker.read_text().split() == ["libdep", "oldpkg", "ufw"]
    assert stat.S_IMODE(marker.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o755
    assert state["uninstall"]["purge"] == ["libdep", "oldpkg", "ufw"]
    # apt-get's own output stays out of the sections
    assert "Get:1" not in proc.stdout


def test_probe_install_with_fresh_package_lists_does_not_refresh(tmp_path):
    proc, apt_log = run_install(tmp_path, installed=["procps"], fresh_lists=True)
    assert proc.returncode == 0, proc.stdout
    assert len(apt_log) == 1 and "install" in apt_log[0].split()


def test_probe_install_on_a_host_that_has_the_packages_changes_nothing(tmp_path):
    proc, apt_log = run_install(tmp_path, installed=["ufw", "procps"])
    assert proc.returncode == 0, proc.stdout
    assert apt_log == []
    assert ufw_state(proc.stdout, **SERVER)["installed_now"] == []
    assert not (tmp_path / "state").exists()


def test_probe_install_failure_says_what_failed_and_records_nothing(tmp_path):
    proc, _apt_log = run_install(tmp_path, installed=["procps"], packages=("ufw", "broken"))
    assert proc.returncode == 1
    assert "apt-get install ufw broken failed (exit 100)" in proc.stdout
    assert "E: Unable to locate package broken" in proc.stdout
    assert not (tmp_path / "state").exists()


def test_read_only_probe_has_no_installed_section(tmp_path):
    out = run_probe(tmp_path, STATUS_SERVER, ADDED_SERVER)
    assert ufw_state(out, **SERVER)["installed_now"] == []
