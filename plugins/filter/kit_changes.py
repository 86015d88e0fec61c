# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: kit_changes
short_description: Compare a startup kit with its installed copy (which files and directories to install)
version_added: 0.1.0
positional: _input, installed, src, dest
author:
  - edgefl maintainers (@edgefl)
description:
  - Takes two listings in the form of the C(files) of an M(ansible.builtin.find) result with C(get_checksum=true) -
    the kit on the control node (the roles list it with the P(edgefl.nvflare.kit_files#lookup) lookup) and the
    installed copy on the host - and returns the kit files that are missing on the host,
    differ in content, or lost their mode, owner or group, plus every directory the kit needs.
  - One listing per side instead of one M(ansible.builtin.stat) round trip per file, so a run that
    changes nothing costs one module call on the host whatever the size of the kit. Used by the
    C(edgefl.nvflare.nvflare_service) and C(edgefl.nvflare.nvflare_admin) roles.
  - Never reads the files themselves; only paths, checksums and metadata of the listings.
options:
  _input:
    description: The C(files) of the listing of the kit on the control node.
    type: list
    elements: dict
    required: true
  installed:
    description: The C(files) of the listing of the installed copy (V([]) when nothing is installed yet).
    type: list
    elements: dict
    required: true
  src:
    description: The kit directory on the control node (the root of the first listing).
    type: path
    required: true
  dest:
    description: The directory the kit is installed into on the host.
    type: path
    required: true
  top_dirs:
    description: Directories (relative to O(dest)) the kit always needs, even when they hold no file.
    type: list
    elements: str
    default: []
  mode:
    description: The mode every installed file must have, as M(ansible.builtin.find) reports it.
    type: str
    default: "0600"
  owner:
    description: The owner every installed file must have; not compared when omitted.
    type: str
  group:
    description: The group every installed file must have; not compared when omitted.
    type: str
  exclude:
    description: Kit files (relative paths) the caller installs otherwise; never returned in RV(_value.files).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: List the kit on the control node
  ansible.builtin.set_fact:
    src_files:
      files: "{{ query('edgefl.nvflare.kit_files', kit, top_dirs=['startup']) }}"

- name: List the installed copy
  ansible.builtin.find:
    paths: /opt/nvflare/site-1/startup
    recurse: true
    get_checksum: true
  register: dest_files

- name: Copy only what is missing or different
  ansible.builtin.copy:
    src: "{{ kit }}/{{ item }}"
    dest: /opt/nvflare/site-1/{{ item }}
    mode: "0600"
  loop: >-
    {{ (src_files.files | edgefl.nvflare.kit_changes(dest_files.files, kit, '/opt/nvflare/site-1',
        top_dirs=['startup'])).files }}
"""

RETURN = r"""
_value:
  description: What to install.
  type: dict
  contains:
    files:
      description: Kit files (paths relative to the kit) that are missing, differ, or have the wrong mode/owner/group,
        in the order of the kit listing.
      type: list
      elements: str
    dirs:
      description: Every directory the kit needs under O(dest) (absolute paths) - O(top_dirs) and every ancestor
        directory of a kit file - sorted (parents before their subdirectories).
      type: list
      elements: str
    top:
      description: The O(top_dirs) under O(dest) (absolute paths, without duplicates), in the order given. The roles
        list the installed kit in those of them that exist on the host.
      type: list
      elements: str
      version_added: 1.5.0
    all:
      description: Every kit file (relative paths), in the order of the kit listing.
      type: list
      elements: str
"""

import posixpath

from ansible.errors import AnsibleFilterError


def _rel(path, root):
    prefix = root.rstrip("/") + "/"
    if not path.startswith(prefix):
        raise AnsibleFilterError("edgefl.nvflare.kit_changes: %r is not under the kit directory %r; pass the "
                                 "directory the listing was made of as 'src'" % (path, root))
    return path[len(prefix):]


def _files(listing, name):
    if listing is None:
        return []
    if not isinstance(listing, (list, tuple)):
        raise AnsibleFilterError("edgefl.nvflare.kit_changes: %s must be the 'files' list of an "
                                 "ansible.builtin.find result, got %s" % (name, type(listing).__name__))
    for entry in listing:
        if not isinstance(entry, dict) or "path" not in entry:
            raise AnsibleFilterError("edgefl.nvflare.kit_changes: every entry of %s needs a 'path' (the 'files' of an "
                                     "ansible.builtin.find result)" % name)
    return listing


def kit_changes(kit, installed, src, dest, top_dirs=(), mode="0600", owner=None, group=None, exclude=()):
    """Kit listing + installed listing -> {'files': [...], 'dirs': [...], 'top': [...], 'all': [...]}."""
    kit = _files(kit, "the kit listing (the input)")
    installed = _files(installed, "installed")
    dest = dest.rstrip("/")
    have = {f["path"]: f for f in installed}
    skip = set(exclude or ())
    every, todo = [], []
    top = []
    for name in top_dirs or ():
        path = posixpath.join(dest, name.strip("/"))
        if path not in top:
            top.append(path)
    dirs = set(top)
    for entry in kit:
        if entry.get("isdir"):
            continue
        if "checksum" not in entry:
            raise AnsibleFilterError("edgefl.nvflare.kit_changes: the kit listing has no checksums; list it with "
                                     "ansible.builtin.find get_checksum=true")
        rel = _rel(entry["path"], src)
        every.append(rel)
        parent = posixpath.dirname(rel)
        while parent:
            dirs.add(posixpath.join(dest, parent))
            parent = posixpath.dirname(parent)
        if rel in skip:
            continue
        cur = have.get(posixpath.join(dest, rel))
        if (cur is None or cur.get("checksum") != entry["checksum"] or cur.get("mode") != mode
                or (owner is not None and cur.get("pw_name") != owner)
                or (group is not None and cur.get("gr_name") != group)):
            todo.append(rel)
    return {"files": todo, "dirs": sorted(dirs), "top": top, "all": every}


class FilterModule:
    def filters(self):
        return {"kit_changes": kit_changes}
