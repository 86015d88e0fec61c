# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: upgrade_verify
short_description: Whether every client registered again with the new nvflare version after an upgrade
version_added: 1.2.0
positional: _input, expected, version, host_versions, registered
author:
  - edgefl maintainers (@edgefl)
description:
  - Takes the result of M(edgefl.nvflare.status) (with O(edgefl.nvflare.status#module:versions=true)) after
    playbooks/upgrade.yml switched the hosts, and returns whether every expected client is registered and every
    site runs the new version. A site the server's version report does not list is judged by the version of the
    live venv on its host (O(host_versions)); a site with no known version fails the check.
  - When the status module itself failed (its FLARE API calls exist from NVFLARE 2.8 on), the clients that logged
    their registration after the switch (O(registered)) count as registered and the hosts' venvs give the versions.
    A server that does not answer always fails the check.
options:
  _input:
    description: The status module's result (C(reachable), C(client_names), C(versions)).
    type: dict
    required: true
  expected:
    description: Client site names of the inventory.
    type: list
    elements: str
    required: true
  version:
    description: The nvflare version every site must run.
    type: str
    required: true
  host_versions:
    description: Site name to the nvflare version of the live venv on its host.
    type: dict
    default: {}
  registered:
    description: Client site names whose service logged its registration after the switch; none when unknown.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Fail unless every client runs the new version
  ansible.builtin.assert:
    that: __v.ok
    fail_msg: "{{ __v.msg }}"
  vars:
    __v: "{{ site_status | edgefl.nvflare.upgrade_verify(['site-1', 'site-2'], '2.7.3') }}"
"""

RETURN = r"""
_value:
  description: The check.
  type: dict
  contains:
    ok:
      description: Every expected client is registered and every known site runs O(version).
      type: bool
    missing:
      description: Expected clients the server does not list.
      type: list
      elements: str
    wrong_version:
      description: Site name to the other version it runs.
      type: dict
    unknown:
      description: Expected clients whose version nobody reported.
      type: list
      elements: str
    versions:
      description: Site name to version (the server's report over the hosts' venvs).
      type: dict
    from_logs:
      description: The status module failed, and O(registered) and O(host_versions) decided.
      type: bool
    msg:
      description: One line for people.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.module_utils._upgrade import UpgradeError
from ansible_collections.edgefl.nvflare.plugins.module_utils._upgrade import upgrade_verify as _upgrade_verify


def upgrade_verify(status, expected, version, host_versions=None, registered=None):
    try:
        return _upgrade_verify(status, expected, version, host_versions, registered)
    except UpgradeError as e:
        raise AnsibleFilterError(str(e))


class FilterModule:
    def filters(self):
        return {"upgrade_verify": upgrade_verify}
