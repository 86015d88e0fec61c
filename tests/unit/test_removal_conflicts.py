# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The removal_conflicts filter that guards the roles' uninstall entry points."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.removal_conflicts import FilterModule

removal_conflicts = FilterModule().filters()["removal_conflicts"]

WS = "/home/op/edgefl-ws"
KIT = WS + "/edgefl/kits/admin@nvidia.com"


def test_the_roles_default_paths_may_be_removed():
    svc = ["/var/lib/nvflare/site-1", "/var/lib/nvflare/storage", "/var/lib/nvflare"]
    assert removal_conflicts(svc, keep=["/opt/nvflare/venv"]) == []
    admin = [WS + "/admin/admin@nvidia.com"]
    assert removal_conflicts(admin, keep=[KIT, WS], keep_inside=[KIT, WS + "/edgefl"]) == []


@pytest.mark.parametrize("path", ["/", "/var/lib", "/var/lib/", "//var//lib/.", "/etc", "/opt", "/tmp", "/home"])
def test_system_directories_are_refused(path):
    assert removal_conflicts([path]) == ["%s is a system directory" % path]


def test_the_root_conflicts_with_everything_kept():
    out = removal_conflicts(["/"], keep=["/opt/nvflare/venv"])
    assert "/ is a system directory" in out
    assert "/ is or holds /opt/nvflare/venv, which must stay" in out


@pytest.mark.parametrize("dest", [WS, WS + "/", WS + "/edgefl", WS + "/edgefl/kits", KIT, "/home/op"])
def test_the_provisioning_workspace_and_its_parents_are_refused(dest):
    out = removal_conflicts([dest], keep=[KIT, WS], keep_inside=[KIT, WS + "/edgefl"])
    assert out, dest
    assert all(dest in m for m in out)


def test_a_path_inside_the_project_is_refused():
    out = removal_conflicts([WS + "/edgefl/state"], keep_inside=[WS + "/edgefl"])
    assert out == [WS + "/edgefl/state is inside " + WS + "/edgefl, which must stay"]


def test_a_sibling_with_a_common_prefix_is_not_a_parent():
    assert removal_conflicts(["/var/lib/nvflare"], keep=["/var/lib/nvflare-venv/bin"]) == []
    assert removal_conflicts(["/srv/ws-old"], keep_inside=["/srv/ws"]) == []


def test_a_venv_inside_the_state_root_protects_the_root():
    out = removal_conflicts(["/var/lib/nvflare"], keep=["/var/lib/nvflare/venv"])
    assert out == ["/var/lib/nvflare is or holds /var/lib/nvflare/venv, which must stay"]


def test_relative_and_empty_paths_are_refused_and_empty_keeps_ignored():
    assert removal_conflicts(["var/lib/nvflare", ""], keep=[""], keep_inside=[""]) == [
        "'var/lib/nvflare' is not an absolute path", "'' is not an absolute path"]


@pytest.mark.parametrize("paths, keep", [("/var/lib/nvflare", []), (["/x"], "/y"), ([None], [])])
def test_input_that_is_not_a_list_of_paths_is_refused(paths, keep):
    with pytest.raises(AnsibleFilterError):
        removal_conflicts(paths, keep=keep)
