# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.full_run: does a run's tag selection run every task of deploy.yml (so the fast path may probe and
record)?"""

from __future__ import annotations

import glob
import os

import pytest
import yaml

from ansible_collections.edgefl.nvflare.plugins.filter.full_run import DEPLOY_TAGS, FilterModule

full_run = FilterModule().filters()["full_run"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("run_tags, skip_tags, expected", [
    (["all"], [], True),
    (["all"], None, True),
    # molecule's converge and idempotence: no deploy task carries these
    (["all"], ["molecule-notest", "notest"], True),
    (["all"], ["bootstrap"], True),
    (["all", "deploy"], [], True),
    # a run limited by --tags runs part of the roles
    (["deploy"], [], False),
    (["firewall"], [], False),
    # skipping a deploy tag leaves tasks out
    (["all"], ["firewall"], False),
    (["all"], ["molecule-notest", "notest", "firewall"], False),  # molecule/aarch64_federation
    (["all"], ["nvflare_venv_install"], False),
    (["all"], ["always"], False),
    (["all"], ["tagged"], False),
    (["all"], ["untagged"], False),
    ("all", "notest", True),
])
def test_full_run(run_tags, skip_tags, expected):
    assert full_run(run_tags, skip_tags) is expected


def test_refuses_a_mapping():
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="skip_tags must be a list of tags"):
        full_run(["all"], {"firewall": True})


def _tags_in(node, out):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "tags":
                out.update([value] if isinstance(value, str) else value)
            else:
                _tags_in(value, out)
    elif isinstance(node, list):
        for item in node:
            _tags_in(item, out)
    return out


def test_deploy_tags_cover_every_tag_of_deploy_and_the_roles():
    """DEPLOY_TAGS is a list in Python: this fails when deploy.yml or a role gains a tag the list misses (then a
    --skip-tags of that tag would leave tasks out and still record the host as converged)."""
    found = set()
    paths = [os.path.join(ROOT, "playbooks", "deploy.yml")]
    paths += glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))
    paths += glob.glob(os.path.join(ROOT, "roles", "*", "handlers", "*.yml"))
    for path in paths:
        with open(path) as f:
            _tags_in(yaml.safe_load(f), found)
    assert found - DEPLOY_TAGS == set()
    # and the roles' own tags are there at all (the scan works)
    assert {"firewall", "nvflare_venv_install", "always"} <= found
