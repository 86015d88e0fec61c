# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: full_run
short_description: Whether a run's tag selection runs every task of deploy.yml
version_added: 1.4.0
positional: _input, skip_tags
author:
  - edgefl maintainers (@edgefl)
description:
  - Decides whether the no-change fast path of C(playbooks/deploy.yml) may probe and record the hosts. A record
    says "the roles converged this host"; a run that left some of the roles' tasks out must not write one.
  - The run is whole when O(_input) (C(ansible_run_tags)) holds C(all) and O(skip_tags) names none of the tags
    that deploy.yml's plays and the roles it applies use (nor C(always), C(tagged) or C(untagged)).
  - A skipped tag that no deploy task carries leaves every deploy task in the run, so the fast path stays on.
    Molecule's converge and idempotence runs pass C(--skip-tags molecule-notest,notest), and C(--skip-tags
    bootstrap) leaves out only the bootstrap play.
options:
  _input:
    description: The run's tags, C(ansible_run_tags).
    type: list
    elements: str
    required: true
  skip_tags:
    description: The run's skipped tags, C(ansible_skip_tags).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Read the host against its record
  edgefl.nvflare.host_state:
    context: "{{ __edgefl_site }}"
  when: ansible_run_tags | edgefl.nvflare.full_run(ansible_skip_tags)
"""

RETURN = r"""
_value:
  description: True when every task of deploy.yml runs.
  type: bool
"""

from ansible.errors import AnsibleFilterError

# Every tag on deploy.yml's plays, roles and tasks and inside the roles it applies (tests/unit/test_full_run.py
# reads them from the files and fails when this list misses one), and Ansible's special tags that select tasks.
DEPLOY_TAGS = frozenset([
    "always", "tagged", "untagged",
    "deploy", "prepare", "service", "admin", "jetson", "torch", "venv", "hosts", "firewall",
    "nvflare_admin_configure", "nvflare_admin_install",
    "nvflare_firewall_configure", "nvflare_firewall_install", "nvflare_firewall_service",
    "nvflare_hosts_configure",
    "nvflare_jetson_configure", "nvflare_jetson_install", "nvflare_jetson_service",
    "nvflare_service_configure", "nvflare_service_install", "nvflare_service_service",
    "nvflare_venv_install",
])


def _tags(value, what):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise AnsibleFilterError("edgefl.nvflare.full_run: %s must be a list of tags, got %r" % (what, value))
    return [str(v) for v in value]


def full_run(run_tags, skip_tags=None):
    run = _tags(run_tags, "the run tags")
    skipped = _tags(skip_tags, "skip_tags")
    return "all" in run and not DEPLOY_TAGS.intersection(skipped)


class FilterModule:
    def filters(self):
        return {"full_run": full_run}
