# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: upgrade_plan
short_description: Decide what playbooks/upgrade.yml switches, and whether the fleet runs the new version
version_added: 1.2.0
positional: _input, version
author:
  - edgefl maintainers (@edgefl)
description:
  - C(upgrade_plan) takes, per host, the nvflare version of its live venv and of a venv staged for the upgrade,
    and returns which hosts switch, which already run the version, which have no venv at all (deploy them
    first), and a one-line message.
  - P(edgefl.nvflare.upgrade_verify#filter) checks the fleet after the switch.
options:
  _input:
    description:
      - Host name to a dict with C(current) (the live venv's nvflare version, empty or none when
        there is no venv) and C(staged) (the version of the staged venv, empty or none when none is staged).
    type: dict
    required: true
  version:
    description: The nvflare version the fleet moves to.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Decide what to switch
  ansible.builtin.set_fact:
    __plan: "{{ {'server1': {'current': '2.6.3'}, 'site-1': {'current': '2.7.3'}} | edgefl.nvflare.upgrade_plan('2.7.3') }}"
  # -> switch: [server1], current: [site-1], from_versions: ['2.6.3'], ok: true
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    version:
      description: The target version.
      type: str
    switch:
      description: Hosts whose live venv holds another version (they get the staged venv and the new kit).
      type: list
      elements: str
    current:
      description: Hosts that already run the target version.
      type: list
      elements: str
    no_venv:
      description: Hosts without a live venv (never deployed; upgrade.yml refuses them).
      type: list
      elements: str
    from_versions:
      description: The versions the switched hosts run now, sorted.
      type: list
      elements: str
    downgrade:
      description: A switched host runs a newer version than the target.
      type: bool
    ok:
      description: Every host has a live venv.
      type: bool
    msg:
      description: One line for people.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.module_utils._upgrade import UpgradeError
from ansible_collections.edgefl.nvflare.plugins.module_utils._upgrade import upgrade_plan as _upgrade_plan


def upgrade_plan(hosts, version):
    try:
        return _upgrade_plan(hosts, version)
    except UpgradeError as e:
        raise AnsibleFilterError(str(e))


class FilterModule:
    def filters(self):
        return {"upgrade_plan": upgrade_plan}
