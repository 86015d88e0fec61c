# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: kit_dirs_todo
short_description: Directories that are missing or have another mode, owner or group than wanted
version_added: 0.2.0
positional: _input, dirs
author:
  - edgefl maintainers (@edgefl)
description:
  - Takes the result of P(edgefl.nvflare.stat_probe#filter) and the directories a role manages, and returns
    those that must be created or fixed (for example with one C(install -d -m 0700 -o OWNER -g GROUP -- DIR...)).
  - Owner and group are compared only when given (the admin kit belongs to whoever runs the role).
options:
  _input:
    description: The probe, as returned by P(edgefl.nvflare.stat_probe#filter).
    type: dict
    required: true
  dirs:
    description: The directories (absolute paths) that must exist.
    type: list
    elements: str
    required: true
  mode:
    description: Wanted permission bits, as C(stat %a) prints them (a leading zero is ignored).
    type: str
    default: "700"
  owner:
    description: Wanted owner; not compared when omitted.
    type: str
  group:
    description: Wanted group; not compared when omitted.
    type: str
"""

EXAMPLES = r"""
- name: Create or fix the state directories in one command
  ansible.builtin.command:
    argv: "{{ ['install', '-d', '-o', 'nvflare', '-g', 'nvflare', '-m', '0700', '--'] + todo }}"
  vars:
    todo: "{{ probe.stdout_lines | edgefl.nvflare.stat_probe | edgefl.nvflare.kit_dirs_todo(dirs, owner='nvflare', group='nvflare') }}"
  changed_when: true
  when: todo | length > 0
"""

RETURN = r"""
_value:
  description: The directories of O(dirs) to create or fix, in the order given, without duplicates.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError


def _norm_mode(mode):
    mode = str(mode).strip()
    if not mode or any(c not in "01234567" for c in mode):
        raise AnsibleFilterError("edgefl.nvflare.kit_dirs_todo: mode must be octal digits like 700, got %r" % mode)
    return mode.lstrip("0") or "0"


def kit_dirs_todo(probe, dirs, mode="700", owner=None, group=None):
    """stat_probe map + wanted dirs -> the dirs that are missing or differ in mode/owner/group."""
    if not isinstance(probe, dict):
        raise AnsibleFilterError("edgefl.nvflare.kit_dirs_todo: the input must be the result of "
                                 "edgefl.nvflare.stat_probe, got %s" % type(probe).__name__)
    if isinstance(dirs, str) or not isinstance(dirs, (list, tuple)):
        raise AnsibleFilterError("edgefl.nvflare.kit_dirs_todo: dirs must be a list of absolute paths")
    want = _norm_mode(mode)
    todo = []
    for d in dirs:
        if not isinstance(d, str) or not d.startswith("/"):
            raise AnsibleFilterError("edgefl.nvflare.kit_dirs_todo: %r is not an absolute path" % (d,))
        if d in todo:
            continue
        cur = probe.get(d)
        if (cur is None or _norm_mode(cur.get("mode", "")) != want
                or (owner is not None and cur.get("owner") != owner)
                or (group is not None and cur.get("group") != group)):
            todo.append(d)
    return todo


class FilterModule:
    def filters(self):
        return {"kit_dirs_todo": kit_dirs_todo}
