# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nvflare_remove_clients names sites or inventory hosts: provision.yml and lockout.yml read one list of site names
(before, provisioning got the inventory host name as given and removed nothing, while the lock-out disabled the
site)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgefl.nvflare.plugins.filter.federation import federation
from ansible_collections.edgefl.nvflare.plugins.filter.removal_names import removal_names

GROUPS = {"all": ["fl", "jetson-a", "jetson-b", "hub"], "nvflare_server": ["fl"], "nvflare_relays": ["hub"],
          "nvflare_clients": ["jetson-a", "jetson-b"]}
HOSTVARS = {"fl": {"nvflare_site_name": "server1"}, "jetson-a": {"nvflare_site_name": "site-a"},
            "jetson-b": {}, "hub": {"nvflare_site_name": "relay-1"}, "localhost": {}}


@pytest.fixture(name="fed")
def fixture_fed():
    return federation(GROUPS, HOSTVARS, host="localhost")


@pytest.mark.parametrize("value, names", [
    ("jetson-a", ["site-a"]),
    ("site-a, jetson-a ,jetson-b", ["site-a", "jetson-b"]),
    (["hub", "site-gone"], ["relay-1", "site-gone"]),
    ("fl", ["server1"]),  # provisioning refuses the server by its site name
    ("", []), (None, []), ([], []), ("a,,b,", ["a", "b"]),
])
def test_host_names_become_site_names(fed, value, names):
    assert removal_names(value, fed) == names


@pytest.mark.parametrize("value", [3, {"site-1": True}, ["site-1", 4]])
def test_what_is_no_name_is_refused(fed, value):
    with pytest.raises(AnsibleFilterError, match="nvflare_remove_clients"):
        removal_names(value, fed)
