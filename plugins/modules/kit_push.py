#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: kit_push
short_description: Install files of a startup kit from the control node on a host in one task
version_added: 1.5.0
description:
  - The action plugin packs O(files) of the kit directory O(src) on the control node into a tar archive in a private
    (0600) temporary file, transfers it into Ansible's temporary directory on the host, runs this module there and
    removes the archive on the control node again, whatever happened. One task instead of three (pack, unarchive,
    remove; issue 15).
  - The module unpacks the archive into O(dest). Each file is written atomically (a temporary file in its directory,
    then a rename) with mode C(0600), and with O(owner) and O(group) when given (else it belongs to the user the
    module runs as). The directories must exist (the kit install makes them first). A member that is not a regular
    file, or whose name is absolute or leaves O(dest), fails the task before anything is written.
  - Used by the kit install of C(edgefl.nvflare.nvflare_common) (the service and admin roles) with the file list of
    P(edgefl.nvflare.kit_changes#filter). Key files are never shown; there is no diff.
author:
  - edgefl maintainers (@edgefl)
extends_documentation_fragment:
  - edgefl.nvflare.attributes
attributes:
  check_mode:
    support: full
    details:
      - Packs and transfers nothing; reports the files it would install.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - It installs what it is given. The caller decides which files differ (P(edgefl.nvflare.kit_changes#filter)).
options:
  src:
    description: The kit directory on the control node.
    type: path
    required: true
  files:
    description: The files to install, relative to O(src) and O(dest).
    type: list
    elements: str
    required: true
  dest:
    description: The kit directory on the host. It and the directories of O(files) must exist.
    type: path
    required: true
  owner:
    description: Owner of the installed files (a name). Unset - the user the module runs as.
    type: str
  group:
    description: Group of the installed files (a name). Unset - that user's group.
    type: str
  archive:
    description: Set by the action plugin (the archive on the host); do not set it.
    type: path
notes:
  - The archive holds private keys. On the control node it is a 0600 temporary file removed in a C(finally); on the
    host it is in Ansible's private temporary directory, which Ansible removes after the task.
  - A run killed between the pack and that removal leaves the archive on the control node. Its name
    (C(edgefl-kit-<pid>-<start>-*.tar)) names the ansible-playbook process that made it; the next
    M(edgefl.nvflare.kit_push) or M(edgefl.nvflare.run_lock) on the control node removes the archives of processes
    that have ended.
seealso:
  - module: ansible.builtin.unarchive
"""

EXAMPLES = r"""
- name: Install the new or changed kit files
  edgefl.nvflare.kit_push:
    src: /home/me/nvflare-workspace/fl/kits/site-1
    files: "{{ (kit_listing | edgefl.nvflare.kit_changes(installed, '/var/lib/nvflare/site-1')).files }}"
    dest: /var/lib/nvflare/site-1
    owner: nvflare
    group: nvflare
"""

RETURN = r"""
files:
  description: The files installed (or that would be in check mode), relative to O(dest).
  returned: always
  type: list
  elements: str
  sample: [startup/client.crt, startup/client.key]
"""

import os
import tarfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgefl.nvflare.plugins.module_utils._base import EdgeflModule, ModuleError
from ansible_collections.edgefl.nvflare.plugins.module_utils._files import FileSpecError, atomic_write, inside, owner_ids

ARGUMENT_SPEC = dict(
    src=dict(type="path", required=True),
    files=dict(type="list", elements="str", required=True),
    dest=dict(type="path", required=True),
    owner=dict(type="str"),
    group=dict(type="str"),
    archive=dict(type="path"),
)


def safe_member(dest, member):
    """The path a tar member is written to, or a reason it is refused."""
    name = member.name
    if not member.isreg():
        return None, "%s is not a regular file" % name
    if not inside(name):
        return None, "%s is not a path inside the kit" % name
    return os.path.join(dest, name), None


class KitPushModule(EdgeflModule):
    def run(self):
        params = self.module.params
        files, dest = params["files"], params["dest"]
        self.add_result(files=list(files))
        if self.check_mode or not files:
            self.set_changed(bool(files))
            return
        if not params["archive"]:
            raise ModuleError("edgefl.nvflare.kit_push runs through its action plugin, which sets archive", field="archive")
        try:
            uid, gid = owner_ids(params["owner"], params["group"])
        except FileSpecError as exc:
            raise ModuleError(str(exc), field="owner")
        with tarfile.open(params["archive"], "r:") as tar:
            members = tar.getmembers()
            plan = []
            for member in members:
                path, bad = safe_member(dest, member)
                if bad:
                    raise ModuleError("the kit archive is refused, nothing was installed: " + bad, field="files")
                if not os.path.isdir(os.path.dirname(path)):
                    raise ModuleError("%s: its directory does not exist on the host, nothing was installed" % path,
                                      field="dest")
                plan.append((member, path))
            try:
                for member, path in plan:
                    atomic_write(path, tar.extractfile(member).read(), mode=0o600, uid=uid, gid=gid)
            except OSError as exc:
                raise ModuleError("installing the kit into %s failed: %s" % (dest, exc), field="dest")
        self.set_changed(True)
        self.add_result(files=[member.name for member, _path in plan])


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    KitPushModule(module).execute()


if __name__ == "__main__":
    main()
