# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: limit_hosts
short_description: The hosts a --limit names one by one, or none when it names anything else
version_added: 0.2.0
positional: _input, groups
author:
  - edgefl maintainers (@edgefl)
description:
  - Splits a C(--limit) value (the C(ansible_limit) magic variable) at C(,) and C(:) and returns the host names
    when every part is the exact name of an inventory host.
  - Returns an empty list when there is no limit, or when any part is a group, a wildcard or regular expression
    pattern, an exclusion (C(!)), an intersection (C(&)) or a retry file (C(@)). Destructive playbooks use it to
    ask for an explicit confirmation unless the run names its hosts.
options:
  _input:
    description: The C(ansible_limit) value (may be undefined or empty).
    type: str
    required: true
  groups:
    description: The C(groups) magic variable.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Ask for confirmation unless the run names its hosts
  ansible.builtin.assert:
    that: nvflare_uninstall_confirm | default('') == 'yes' or ansible_limit | default('') | edgefl.nvflare.limit_hosts(groups)
"""

RETURN = r"""
_value:
  description: The named hosts, in the order of the limit; empty when the limit is not only host names.
  type: list
  elements: str
"""

import re

_SPLIT = re.compile(r"[,:]")


def limit_hosts(limit, groups):
    if not limit:
        return []
    all_hosts = set((groups or {}).get("all") or [])
    for name, members in (groups or {}).items():
        all_hosts.update(members or [])
    names = []
    for part in _SPLIT.split(str(limit)):
        part = part.strip()
        if not part:
            continue
        if part in (groups or {}) or part not in all_hosts or part[0] in "!&@~" or any(c in part for c in "*?[]"):
            return []
        if part not in names:
            names.append(part)
    return names


class FilterModule:
    def filters(self):
        return {"limit_hosts": limit_hosts}
