# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one rule for an NVFLARE version the collection deploys (plugin_utils/_model.release_error, the
edgefl.nvflare.release_error filter): the model's first-play check, the nvflare_venv and nvflare_jetson roles' checks
and upgrade.yml all read it, so none of them accepts a string another refuses."""

from __future__ import annotations

import sys

import pytest
from ansible_collections.edgefl.nvflare.plugins.filter.release_error import FilterModule
from ansible_collections.edgefl.nvflare.plugins.plugin_utils._model import release_error
from conftest import flat, run_playbook

CASES = [
    ("2.9.0", True), ("2.4.2", True), ("2.4", True), ("2.10", True), ("2.10.1", True), ("2.9.0rc1", True),
    ("2.9rc1", True), (2.7, True), ("3.0.0", True),
    ("2.x", False), ("2.3.1", False), ("2.3rc1", False), ("v2.9.0", False), ("latest", False), ("2.9.0 ", False),
    ("", False), (None, False), ("2", False), ("2.9.0.1", False), ("2.9.0-rc1", False),
]


@pytest.mark.parametrize("value, ok", CASES)
def test_the_rule(value, ok):
    said = release_error(value)
    if ok:
        assert said == ""
    else:
        assert said == ("nvflare_version %r is not an NVFLARE release this collection deploys: give a release such as "
                        "2.9.0, 2.4 or later" % ("" if value is None else str(value)))


def test_an_unquoted_yaml_number_is_named():
    # nvflare_version: 2.10 unquoted is the number 2.1 (below 2.4)
    assert release_error(2.1).endswith("2.4 or later (YAML read an unquoted number, so 2.10 became 2.1: write the "
                                       "release in quotes, e.g. nvflare_version: \"2.10.0\")")


def test_the_filter_is_the_rule_and_names_the_variable():
    fil = FilterModule().filters()["release_error"]
    assert fil is release_error
    assert fil("2.3.0", "nvflare_venv_version").startswith("nvflare_venv_version '2.3.0' is not an NVFLARE release")


PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: edgefl.nvflare.%s
        tasks_from: %s
"""


@pytest.mark.parametrize("role, tasks, var, said", [
    ("nvflare_venv", "checks", "nvflare_venv_version",
     "nvflare_venv_version '2.x' is not an NVFLARE release this collection deploys"),
    ("nvflare_jetson", "preflight", "nvflare_jetson_nvflare_version",
     "nvflare_jetson_nvflare_version (nvflare_version) '2.x' is not an NVFLARE release this collection deploys"),
])
def test_the_roles_refuse_what_the_rule_refuses_and_pass_what_it_passes(tmp_path, role, tasks, var, said):
    """A real role run on localhost: a version the rule refuses stops the role's version check by name (the jetson
    role's version() test used to fail on '2.x' with a comparison error instead); a pre-release the rule accepts
    passes it."""
    (tmp_path / "play.yml").write_text(PLAY % (role, tasks))
    argv = ["play.yml", "-e", "ansible_python_interpreter=" + sys.executable, "-e", "ansible_connection=local"]
    bad = run_playbook(tmp_path, *argv, "-e", "%s=2.x" % var, timeout=120)
    assert bad.returncode != 0, bad.stdout
    assert said in flat(bad.stdout), bad.stdout
    good = run_playbook(tmp_path, *argv, "-e", "%s=2.9rc1" % var, timeout=120)
    first = good.stdout.split("TASK [")
    version_task = next(part for part in first if part.startswith("edgefl.nvflare.%s : Check the" % role)
                        and ("its rules" in part.split("]")[0] or "NVFLARE version" in part.split("]")[0]))
    assert "ok: [localhost]" in version_task, good.stdout
