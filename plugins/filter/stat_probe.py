# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: stat_probe
short_description: Parse the output of C(stat --format='%n %a %U %G') into path -> mode, owner, group
version_added: 0.2.0
positional: _input
author:
  - edgefl maintainers (@edgefl)
description:
  - The roles probe a set of paths with one read-only C(stat --format='%n %a %U %G' -- PATH...) command
    (paths that do not exist are reported on standard error only). This filter turns its standard output
    lines into a dictionary keyed by path.
  - A path may contain spaces; the last three fields are always mode, owner and group.
  - Used with P(edgefl.nvflare.kit_dirs_todo#filter) by the C(edgefl.nvflare.nvflare_service) and
    C(edgefl.nvflare.nvflare_admin) roles.
options:
  _input:
    description: The C(stdout_lines) of the C(stat) command (a string with newlines is accepted too).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Probe the state directories
  ansible.builtin.command:
    argv: [stat, --format=%n %a %U %G, --, /var/lib/nvflare/site-1, /var/lib/nvflare/storage]
  register: probe
  changed_when: false
  failed_when: false
  check_mode: false

- name: Show which ones exist
  ansible.builtin.debug:
    msg: "{{ probe.stdout_lines | edgefl.nvflare.stat_probe }}"
  # {'/var/lib/nvflare/site-1': {'mode': '700', 'owner': 'nvflare', 'group': 'nvflare'}}
"""

RETURN = r"""
_value:
  description: One entry per path that exists.
  type: dict
  contains:
    mode:
      description: Octal permission bits without a leading zero, as C(stat %a) prints them (V(700), V(2750)).
      type: str
    owner:
      description: Owner name (V(UNKNOWN) when the user ID has no name).
      type: str
    group:
      description: Group name (V(UNKNOWN) when the group ID has no name).
      type: str
"""

import re

from ansible.errors import AnsibleFilterError

_LINE = re.compile(r"^(?P<path>.+) (?P<mode>[0-7]{1,4}) (?P<owner>\S+) (?P<group>\S+)$")


def stat_probe(lines):
    """stdout lines of `stat --format='%n %a %U %G'` -> {path: {'mode', 'owner', 'group'}}."""
    if lines is None:
        return {}
    if isinstance(lines, str):
        lines = lines.splitlines()
    if not isinstance(lines, (list, tuple)):
        raise AnsibleFilterError("edgefl.nvflare.stat_probe: give the stdout_lines of the stat command, got %s"
                                 % type(lines).__name__)
    out = {}
    for line in lines:
        if not isinstance(line, str) or not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            raise AnsibleFilterError("edgefl.nvflare.stat_probe: %r is not a line of stat --format='%%n %%a %%U %%G'"
                                     % line)
        out[m.group("path")] = {"mode": m.group("mode"), "owner": m.group("owner"), "group": m.group("group")}
    return out


class FilterModule:
    def filters(self):
        return {"stat_probe": stat_probe}
