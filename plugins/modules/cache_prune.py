#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cache_prune
short_description: Remove the wheelhouses and golden venvs of NVFLARE versions the fleet no longer runs
version_added: 1.5.0
description:
  - The M(edgefl.nvflare.cache_prune) module removes, from the control node's wheelhouse cache (the
    C(nvflare_venv) role's C(nvflare_venv_wheelhouse_cache)), the wheelhouses and golden venv archives of every
    NVFLARE version not in O(keep_versions). Each upgrade leaves those of the old version behind (tens of MB of
    wheels and of golden venv per version, platform and Python); nothing else removes them.
  - It also removes golden venvs named without their version (from before the version was part of the name; no
    run uses them), and partial golden venvs that a killed run left more than a day ago.
  - A wheelhouse is removed only while its lock file can be taken at once. One that a run is building is left, and
    listed in RV(in_use).
  - Files and directories of the cache that the collection did not write are never touched, nor is anything
    outside O(path). Symbolic links are not followed.
  - Runs on the control node. C(playbooks/prune_cache.yml) calls it with the versions of the
    inventory.
author:
  - edgefl maintainers (@edgefl)
extends_documentation_fragment:
  - edgefl.nvflare.attributes
attributes:
  check_mode:
    support: full
    details:
      - Lists what a run would remove, and removes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  path:
    description: The wheelhouse cache, holding one C(<arch>-py<XY>) directory per platform and Python. A cache that
      does not exist is empty.
    type: path
    required: true
  keep_versions:
    description:
      - The NVFLARE versions whose wheelhouses and golden venvs stay, as the C(nvflare_venv) role names them
        (C(nvflare_venv_version), for example V(2.9.0)). List every version that a federation of this control node
        runs or may install; what is removed is downloaded or built again when a run needs it, which needs the
        package index.
      - Must not be empty.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Remove the wheelhouses and golden venvs of every NVFLARE version but 2.9.0
  edgefl.nvflare.cache_prune:
    path: ~/.cache/edgefl-nvflare/wheelhouse
    keep_versions: ["2.9.0"]
"""

RETURN = r"""
removed:
  description: What was removed (in check mode, what a run would remove), each with its name relative to O(path),
    kind, NVFLARE version (null for a golden venv named without one), size in bytes and reason.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: x86_64-py311/nvflare-2.8.3-8cf5c296da, kind: wheelhouse, version: 2.8.3, bytes: 100663296,
       reason: NVFLARE 2.8.3 is not kept}
kept:
  description: The names (relative to O(path)) of the collection's entries that stay.
  returned: always
  type: list
  elements: str
  sample: [x86_64-py311/nvflare-2.9.0-5d35b1260e, x86_64-py311/venv-2.9.0-5ae45487c56f.tar.gz]
in_use:
  description: The wheelhouses that would have been removed but whose lock a running build holds; a later run
    removes them.
  returned: always
  type: list
  elements: str
  sample: []
freed_bytes:
  description: The bytes the removed entries held (in check mode, would free).
  returned: always
  type: int
  sample: 230686720
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgefl.nvflare.plugins.module_utils._base import EdgeflModule, ModuleError
from ansible_collections.edgefl.nvflare.plugins.module_utils._cache_prune import plan, remove_entry

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    keep_versions=dict(type="list", elements="str", required=True, no_log=False),
)


class CachePruneModule(EdgeflModule):
    def run(self):
        keep_versions = [v.strip() for v in self.module.params["keep_versions"] if v and v.strip()]
        if not keep_versions:
            raise ModuleError("keep_versions is empty: give the NVFLARE versions whose wheelhouses and golden venvs "
                              "stay (e.g. [\"2.9.0\"]); the module would remove every one", field="keep_versions")
        try:
            to_remove, to_keep = plan(self.module.params["path"], keep_versions)
        except OSError as exc:
            raise ModuleError("cannot read the cache %s: %s" % (self.module.params["path"], exc), field="path")
        removed, in_use = [], []
        for entry in to_remove:
            if not self.check_mode:
                try:
                    if not remove_entry(entry):
                        in_use.append(entry["name"])
                        continue
                except OSError as exc:
                    raise ModuleError("cannot remove %s: %s (removed so far: %s)" % (
                        entry["name"], exc, ", ".join(e["name"] for e in removed) or "nothing"), field="path")
            removed.append(dict((k, entry[k]) for k in ("name", "kind", "version", "bytes", "reason")))
        self.set_changed(bool(removed))
        self.add_result(removed=removed, kept=[e["name"] for e in to_keep], in_use=in_use,
                        freed_bytes=sum(e["bytes"] for e in removed))


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    CachePruneModule(module).execute()


if __name__ == "__main__":
    main()
