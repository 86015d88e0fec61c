# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nvflare_remove_clients names sites or inventory hosts: provision.yml and lockout.yml read one list of site names
(before, provisioning got the inventory host name as given and removed nothing, while the lock-out disabled the
site)."""

from __future__ import annotations

import json

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


def test_a_name_the_workspace_records_stays_as_given(tmp_path):
    """A host name that is also a recorded participant's name stays that participant: after hosts got a
    nvflare_site_name, provisioning asks to confirm the removal of the old names, which are the host names; and
    host site-1 (site lab-a-1) next to host site-9 (site site-1) must not turn "site-1" into the live lab-a-1."""
    groups = {"all": ["fl", "site-1", "site-9", "localhost"], "nvflare_server": ["fl"],
              "nvflare_clients": ["site-1", "site-9"]}
    hostvars = {"fl": {}, "site-1": {"nvflare_site_name": "lab-a-1"}, "site-9": {"nvflare_site_name": "site-1"},
                "localhost": {}}
    for hv in hostvars.values():
        hv.update(nvflare_workspace=str(tmp_path / "ws"), nvflare_project_name="p")
    fed = federation(groups, hostvars, host="localhost")
    assert removal_names("site-1", fed) == ["lab-a-1"]  # nothing recorded yet: the host name maps
    state = tmp_path / "ws" / "p" / "state"
    state.mkdir(parents=True)
    recorded = {"participants": {"site-1": {}, "fl": {}}, "removed": {"old-3": {}}}
    (state / "edgefl_provision.json").write_text(json.dumps(recorded))
    # site-1 is recorded: it stays; site-9's site name is site-1 too; old-3 was removed earlier
    assert removal_names("site-1,site-9,old-3", fed) == ["site-1", "old-3"]


@pytest.mark.parametrize("value", [3, {"site-1": True}, ["site-1", 4]])
def test_what_is_no_name_is_refused(fed, value):
    with pytest.raises(AnsibleFilterError, match="nvflare_remove_clients"):
        removal_names(value, fed)
