# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: kit_files
short_description: List a startup kit on the control node, with a SHA-1 checksum per file
version_added: 0.3.0
author:
  - edgefl maintainers (@edgefl)
description:
  - Lists the regular files under O(top_dirs) of the kit directory given as the term, in the form the
    C(files) of an M(ansible.builtin.find) result with C(get_checksum=true) has (C(path), C(checksum), C(mode)),
    so that P(edgefl.nvflare.kit_changes#filter) can compare it with the listing of the installed kit.
  - It reads the control node's files in the controller process. The role used to run M(ansible.builtin.find)
    delegated to localhost for every host, a module process per host and kit (issue #15).
  - Like M(ansible.builtin.find) with its defaults, it skips hidden files (names starting with a dot) and symbolic
    links, and a top directory that does not exist lists nothing (check mode before the first provisioning).
options:
  _terms:
    description: The kit directory on the control node (one).
    required: true
    type: list
    elements: path
  top_dirs:
    description: The kit's directories to list, relative to the kit directory.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: List the server's kit
  ansible.builtin.debug:
    msg: "{{ query('edgefl.nvflare.kit_files', '/srv/ws/edgefl/kits/server1', top_dirs=['startup', 'local']) }}"
"""

RETURN = r"""
_list:
  description: One entry per file, in path order.
  type: list
  elements: dict
  contains:
    path:
      description: The file's path (the kit directory as given, then the path under it).
      type: str
    checksum:
      description: SHA-1 of the content, as M(ansible.builtin.find) reports it.
      type: str
    mode:
      description: The permission bits as four octal digits.
      type: str
"""

import hashlib
import os
import stat

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase


def _sha1(path):
    digest = hashlib.sha1()  # nosec B324 - the checksum ansible.builtin.find and copy use, not a security check
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def kit_files(src, top_dirs):
    """[{path, checksum, mode}] of every regular, non-hidden file under src/<top_dir>, sorted by path."""
    out = []
    for top in top_dirs:
        root = os.path.join(src, top)
        if not os.path.isdir(root):
            continue
        for dirpath, _dirnames, filenames in os.walk(root):
            for name in filenames:
                if name.startswith("."):
                    continue
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                if not stat.S_ISREG(st.st_mode):
                    continue
                out.append({"path": full, "checksum": _sha1(full), "mode": "%04o" % stat.S_IMODE(st.st_mode)})
    return sorted(out, key=lambda e: e["path"])


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError("edgefl.nvflare.kit_files: give exactly one kit directory, got %d" % len(terms))
        try:
            return kit_files(str(terms[0]), [str(t) for t in self.get_option("top_dirs")])
        except OSError as exc:
            raise AnsibleLookupError("edgefl.nvflare.kit_files: cannot read the kit %s: %s" % (terms[0], exc))
