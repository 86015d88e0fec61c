# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: control_nvflare
short_description: What keeps the control node's nvflare from serving the versions the inventory asks for
version_added: 1.5.0
positional: _input, hostvars
author:
  - edgefl maintainers (@edgefl)
description:
  - The control node provisions the kits and talks to the federation with its own nvflare, so it must have the
    release of C(nvflare_version); the C(nvflare_venv) role also refuses a host whose C(nvflare_venv_version) is not
    that release (unless that host sets C(nvflare_venv_check_control_node=false)).
  - Returns one message per release the control node's Python (O(python)) does not have, naming the variables and
    hosts that ask for it and how to give the control node that release. The first play of C(site.yml),
    C(deploy.yml), C(add_client.yml) and C(upgrade.yml) stops with them before the bootstrap installs a Python on
    any host (for C(upgrade.yml), C(nvflare_version) is the release it moves to).
  - The release is read from a venv's C(site-packages) without starting its Python; any other Python is run once.
  - A value that cannot be templated without facts is left to the role's own check in the deploy.
  - The hosts read are those of O(server_group), O(relay_group) and O(client_group).
extends_documentation_fragment:
  - edgefl.nvflare.inventory_groups
options:
  _input:
    description: C(groups).
    type: dict
    required: true
  hostvars:
    description: C(hostvars).
    type: raw
    required: true
  python:
    description: The control node's Python for the federation (C(nvflare_control_python), else
      C(ansible_playbook_python)).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Stop when the control node does not have the inventory's NVFLARE version
  ansible.builtin.fail:
    msg: "{{ __problems | join('; ') }}"
  when: __problems | length > 0
  vars:
    __problems: >-
      {{ groups | edgefl.nvflare.control_nvflare(hostvars,
                                                   python=nvflare_control_python | default(ansible_playbook_python)) }}
"""

RETURN = r"""
_value:
  description: One message per missing release; empty when the control node has what the inventory asks for.
  type: list
  elements: str
"""

from ansible_collections.edgefl.nvflare.plugins.filter.site import run
from ansible_collections.edgefl.nvflare.plugins.module_utils._provision import control_fix, nvflare_version_of


def control_nvflare(groups, hostvars, python, server_group="nvflare_server", client_group="nvflare_clients",
                    relay_group="nvflare_relays"):
    wants = run("control_nvflare", lambda inv: inv.control_versions(), groups, hostvars, server_group, client_group,
                relay_group)
    try:
        have = nvflare_version_of(python)
    except (OSError, ValueError) as exc:
        return ["the control node's Python %s (nvflare_control_python) cannot be used: %s; give the path of a Python "
                "with nvflare %s" % (python, exc, next(iter(wants)))]
    found = []
    for version, askers in wants.items():
        if version == have:
            continue
        if askers == [(None, "nvflare_version")]:
            who = "nvflare_version is %s" % version
        else:
            who = _hosts_asking(version, askers)
        if _same_release(version, have):
            # 2.9 and 2.9.0 are one release to pip, but the roles and the upgrade check compare the text
            found.append("%s, the control node's Python %s has nvflare %s: give the release in full, %s (quoted: YAML "
                         "reads an unquoted 2.9 as a number)" % (who, python, have, have))
            continue
        found.append("%s, but the control node's Python %s has %s: %s"
                     % (who, python, "nvflare " + have if have else "no nvflare", control_fix(version, python)))
    if len(wants) > 1:
        found.append("the control node runs one nvflare release for the whole federation, and the inventory asks for "
                     "%s: set nvflare_version once (group_vars/all) instead of a host's nvflare_venv_version or "
                     "nvflare_version (playbooks/upgrade.yml moves every host to another release), or set "
                     "nvflare_venv_check_control_node=false on a host that must run another release"
                     % " and ".join(wants))
    return found


def _same_release(version, have):
    """Whether VERSION names HAVE's release in short (2.9 for 2.9.0), as pip reads it."""
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:  # pragma: no cover - ansible-core requires packaging
        return False
    try:
        return bool(have) and Version(version) == Version(have)
    except InvalidVersion:
        return False


def _hosts_asking(version, askers):
    """Hosts whose venv would run VERSION, from control_versions' (host, variable) pairs, at most five named."""
    named = ["%s (its nvflare_version)" % host if name == "nvflare_version" else host for host, name in askers]
    shown = ", ".join(named[:5]) + (" and %d more" % (len(named) - 5) if len(named) > 5 else "")
    if all(asker[1] == "nvflare_venv_version" for asker in askers):
        return "nvflare_venv_version is %s on %s" % (version, shown)
    return "the venv of %s would run nvflare %s" % (shown, version)


class FilterModule:
    def filters(self):
        return {"control_nvflare": control_nvflare}
