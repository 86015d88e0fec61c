# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: removal_conflicts
short_description: Why directories an uninstall would remove must not be removed
version_added: 0.2.0
positional: _input
author:
  - edgefl maintainers (@edgefl)
description:
  - The C(uninstall) entry points of the roles remove directories whose paths come from variables. This filter
    returns one message per reason a path must not be removed, so that a mistyped variable fails the run
    instead of deleting a system directory or the provisioning workspace.
  - A path conflicts when it is not absolute, is a system directory (V(/), V(/etc), V(/var/lib), V(/opt), ...),
    is or contains a path of O(keep), or lies inside a directory of O(keep_inside).
  - Paths are compared after normalisation (V(//var/lib/./nvflare/) is V(/var/lib/nvflare)); the file system is
    never read.
options:
  _input:
    description: The paths the caller is about to remove.
    type: list
    elements: str
    required: true
  keep:
    description: Paths that must survive (neither they nor a directory containing them may be removed). Empty entries are ignored.
    type: list
    elements: str
    default: []
  keep_inside:
    description: Directories nothing inside of which may be removed (nor they themselves). Empty entries are ignored.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Refuse to remove the provisioning workspace
  ansible.builtin.assert:
    that: __conflicts | length == 0
    fail_msg: "{{ __conflicts | join('; ') }}"
  vars:
    __conflicts: >-
      {{ [nvflare_admin_dest] | edgefl.nvflare.removal_conflicts(keep_inside=[nvflare_workspace ~ '/edgefl']) }}
"""

RETURN = r"""
_value:
  description: One message per conflict (V([]) when every path may be removed).
  type: list
  elements: str
"""

import posixpath

from ansible.errors import AnsibleFilterError

# Directories no uninstall of this collection may remove, whatever the variables say.
SYSTEM_DIRS = frozenset([
    "/", "/bin", "/boot", "/dev", "/etc", "/etc/systemd", "/etc/systemd/system", "/home", "/lib", "/lib64",
    "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin",
    "/usr/lib", "/usr/local", "/usr/sbin", "/usr/share", "/var", "/var/cache", "/var/lib", "/var/log",
    "/var/tmp",
])


def _norm(path):
    return "/" + posixpath.normpath(path).lstrip("/") if path.strip("/") else "/"


def _paths(value, name):
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise AnsibleFilterError("edgefl.nvflare.removal_conflicts: %s must be a list of paths" % name)
    for p in value:
        if not isinstance(p, str):
            raise AnsibleFilterError("edgefl.nvflare.removal_conflicts: %s holds %r, not a path" % (name, p))
    return value


def _within(path, root):
    return path == root or root == "/" or path.startswith(root + "/")


def removal_conflicts(paths, keep=(), keep_inside=()):
    """Paths to remove -> list of reasons they must not be removed ([] when they may)."""
    keep = [_norm(k) for k in _paths(keep, "keep") if k.strip()]
    keep_inside = [_norm(k) for k in _paths(keep_inside, "keep_inside") if k.strip()]
    out = []
    for p in _paths(paths, "the input"):
        if not p.startswith("/"):
            out.append("%r is not an absolute path" % p)
            continue
        n = _norm(p)
        if n in SYSTEM_DIRS:
            out.append("%s is a system directory" % p)
        for k in keep:
            if _within(k, n):
                out.append("%s is or holds %s, which must stay" % (p, k))
        for k in keep_inside:
            if _within(n, k):
                out.append("%s is inside %s, which must stay" % (p, k))
    return out


class FilterModule:
    def filters(self):
        return {"removal_conflicts": removal_conflicts}
