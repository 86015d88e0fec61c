# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The edgefl.nvflare.apt_new_packages filter on real apt-get output (Debian 12, installing ufw and procps)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.apt_new_packages import FilterModule

apt_new_packages = FilterModule().filters()["apt_new_packages"]

# `apt-get -y install ufw procps` on the bookworm minbase image (procps already there), C locale
INSTALL_UFW = """Reading package lists...
Building dependency tree...
Reading state information...
procps is already the newest version (2:4.0.2-3).
The following additional packages will be installed:
  iptables libip6tc2 libjansson4 libnetfilter-conntrack3 libnfnetlink0
  libnftables1 libnftnl11 netbase nftables
Suggested packages:
  firewalld kmod rsyslog
The following NEW packages will be installed:
  iptables libip6tc2 libjansson4 libnetfilter-conntrack3 libnfnetlink0
  libnftables1 libnftnl11 netbase nftables ufw
0 upgraded, 10 newly installed, 0 to remove and 0 not upgraded.
Need to get 1088 kB of archives.
After this operation, 5107 kB of additional disk space will be used.
debconf: delaying package configuration, since apt-utils is not installed
update-alternatives: using /usr/sbin/iptables-legacy to provide /usr/sbin/iptables (iptables) in auto mode
"""
NOTHING_NEW = """Reading package lists...
Building dependency tree...
Reading state information...
ufw is already the newest version (0.36.2-1).
procps is already the newest version (2:4.0.2-3).
0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.
"""
ONLY_PROCPS = """Reading package lists...
The following NEW packages will be installed:
  procps
0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.
"""


@pytest.mark.parametrize("stdout, fallback, expected", [
    (INSTALL_UFW, [], ["iptables", "libip6tc2", "libjansson4", "libnetfilter-conntrack3", "libnfnetlink0",
                       "libnftables1", "libnftnl11", "netbase", "nftables", "ufw"]),
    (ONLY_PROCPS, ["ufw"], ["procps"]),
    (NOTHING_NEW, ["ufw"], ["ufw"]),
    (NOTHING_NEW, [], []),
    ("", ["ufw"], []),
    (None, ["ufw"], []),
])
def test_new_packages(stdout, fallback, expected):
    assert apt_new_packages(stdout, fallback=fallback) == expected


def test_not_a_string():
    with pytest.raises(AnsibleFilterError, match="stdout of an apt task"):
        apt_new_packages({"stdout": INSTALL_UFW})
