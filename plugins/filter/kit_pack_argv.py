# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: kit_pack_argv
short_description: Command that packs kit files into a private temporary archive on the control node
version_added: 0.1.0
positional: _input, src
author:
  - edgefl maintainers (@edgefl)
description:
  - Returns the C(argv) for M(ansible.builtin.command) that makes a temporary file with C(mktemp) (mode C(0600)),
    writes a tar archive of the given kit files into it, prints its path, and removes it again if tar fails.
  - Every file in the archive has mode C(0600), so unpacking it never makes a key readable by others.
    With O(owner) and O(group) the archive also carries that owner and group (unpacked as root, the files
    get them); without, the files belong to the user who unpacks them.
  - For a playbook that packs kit files itself, with the file list from P(edgefl.nvflare.kit_changes#filter); the
    caller removes the archive when it is installed. The collection's roles use M(edgefl.nvflare.kit_push) instead,
    which packs, transfers, unpacks and removes the archive in one task.
options:
  _input:
    description: Kit files to pack, relative to O(src) (for example the RV(edgefl.nvflare.kit_changes#filter:_value.files)).
    type: list
    elements: str
    required: true
  src:
    description: The kit directory on the control node.
    type: path
    required: true
  suffix:
    description: End of the temporary file's name.
    type: str
    default: .edgefl-kit.tar
  owner:
    description: Owner name recorded for every file (with user ID 0, which root replaces by the name's ID).
    type: str
  group:
    description: Group name recorded for every file (with group ID 0, which root replaces by the name's ID).
    type: str
"""

EXAMPLES = r"""
- name: Pack the changed kit files into a private temporary file on the control node
  ansible.builtin.command:
    argv: "{{ todo.files | edgefl.nvflare.kit_pack_argv(kit, owner='nvflare', group='nvflare') }}"
  delegate_to: localhost
  become: false
  changed_when: false
  register: kit_tar

- name: Unpack them on the host
  ansible.builtin.unarchive:
    src: "{{ kit_tar.stdout }}"
    dest: /opt/nvflare/site-1
"""

RETURN = r"""
_value:
  description: The command's argument vector; the command prints the archive's path on its standard output.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.module_utils._files import inside

# $1: suffix; the rest: the tar command. mktemp makes the file 0600; on failure it is removed again.
_SCRIPT = 'f=$(mktemp --suffix="$1") || exit 1; shift; "$@" > "$f" || { rm -f "$f"; exit 1; }; echo "$f"'


def kit_pack_argv(files, src, suffix=".edgefl-kit.tar", owner=None, group=None):
    """Kit files + kit directory -> argv that prints the path of a fresh 0600 tar of them."""
    if not isinstance(files, (list, tuple)) or not files:
        raise AnsibleFilterError("edgefl.nvflare.kit_pack_argv: give a non-empty list of kit files "
                                 "(the 'files' of edgefl.nvflare.kit_changes)")
    for rel in files:
        if not inside(rel):
            raise AnsibleFilterError("edgefl.nvflare.kit_pack_argv: %r is not a path inside the kit directory; "
                                     "give paths relative to %s" % (rel, src))
    tar = ["tar", "--create", "--file=-", "--no-recursion"]
    if owner:
        tar.append("--owner=%s:0" % owner)
    if group:
        tar.append("--group=%s:0" % group)
    tar += ["--mode=0600", "--directory", str(src), "--"]
    return ["/bin/sh", "-c", _SCRIPT, "sh", suffix] + tar + [str(f) for f in files]


class FilterModule:
    def filters(self):
        return {"kit_pack_argv": kit_pack_argv}
