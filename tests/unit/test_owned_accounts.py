# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.owned_accounts: what the nvflare_venv uninstall may remove, from getent's facts as the module
returns them (strings)."""

from __future__ import annotations

import subprocess

import pytest

from ansible_collections.edgefl.nvflare.plugins.filter.owned_accounts import owned_accounts

PASSWD = {
    "root": ["x", "0", "0", "root", "/root", "/bin/bash"],
    "ubuntu": ["x", "1000", "1000", "Ubuntu,,,", "/home/ubuntu", "/bin/bash"],
    "nvflare": ["x", "998", "998", "NVIDIA FLARE", "/var/lib/nvflare", "/usr/sbin/nologin"],
    "www-data": ["x", "33", "33", "www-data", "/var/www", "/usr/sbin/nologin"],
}
GROUPS = {"root": ["x", "0", ""], "ubuntu": ["x", "1000", ""], "nvflare": ["x", "998", ""], "www-data": ["x", "33", ""],
          "shared": ["x", "500", ""]}


@pytest.mark.parametrize("user, group, expected", [
    ("nvflare", "nvflare", {"user": True, "group": True}),  # what the role made: both go
    ("root", "root", {"user": False, "group": False}),
    ("ubuntu", "ubuntu", {"user": False, "group": False}),  # a login account and its own group stay
    ("www-data", "nvflare", {"user": False, "group": False}),  # the group of the role's account, which stays
    ("gone", "nvflare", {"user": False, "group": False}),  # the role's account still uses the group
    ("gone", "gone", {"user": False, "group": False}),  # nothing there: nothing to do
    ("nvflare", "shared", {"user": True, "group": True}),  # a group nobody has as primary group
    ("nvflare", "www-data", {"user": True, "group": False}),  # www-data's primary group stays
])
def test_only_the_roles_own_account_and_an_unused_group_go(user, group, expected):
    assert owned_accounts(PASSWD, GROUPS, user, group) == expected


def test_an_account_made_as_the_error_message_says_is_the_roles():
    """venv_probe.py tells how to give an existing account the role's settings (usermod ... --comment 'NVIDIA FLARE'):
    from then on it is the role's, and the uninstall removes it."""
    passwd = dict(PASSWD, pi=["x", "1001", "998", "NVIDIA FLARE", "/var/lib/nvflare", "/usr/sbin/nologin"])
    assert owned_accounts(passwd, GROUPS, "pi", "nvflare") == {"user": True, "group": False}  # nvflare still uses it


def test_a_uid_0_account_is_never_removed():
    passwd = dict(PASSWD, toor=["x", "0", "998", "NVIDIA FLARE", "/var/lib/nvflare", "/usr/sbin/nologin"])
    assert owned_accounts(passwd, GROUPS, "toor", "nvflare")["user"] is False


def test_this_machines_real_accounts():
    """On this machine's own databases, read the way the getent module reads them."""
    def read(db):
        out = subprocess.run(["getent", db], capture_output=True, text=True, check=True).stdout
        return {line.split(":")[0]: line.split(":")[1:] for line in out.splitlines()}

    passwd, groups = read("passwd"), read("group")
    assert owned_accounts(passwd, groups, "root", "root") == {"user": False, "group": False}
    assert owned_accounts(passwd, groups, "nobody", "nogroup")["user"] is False


def test_missing_facts():
    assert owned_accounts(None, None, "nvflare", "nvflare") == {"user": False, "group": False}
