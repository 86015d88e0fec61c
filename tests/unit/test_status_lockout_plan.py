# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.lockout_plan: the server's deny list from provisioning's membership record."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

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
