# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for edgefl.nvflare.kit_push: pack, transfer, unpack and clean up in one task.

The kit files are packed here, on the control node, into a 0600 temporary file; it is transferred into Ansible's
private temporary directory on the host, where the module unpacks it; the local file is removed in a ``finally``.
A run killed before that leaves the file: its name carries the run's ansible-playbook process, and the next kit_push
or run lock on this control node removes it (plugin_utils/_kit_tmp.py).
The three tasks this replaces (a delegated pack command, unarchive, a delegated file removal) cost two extra worker
processes per host (issue 15).
"""

from __future__ import annotations

import os
import tarfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.edgefl.nvflare.plugins.module_utils._files import inside
from ansible_collections.edgefl.nvflare.plugins.plugin_utils import _kit_tmp


def check_files(files, src):
    """The file list, or AnsibleActionFail naming the first entry that is not a path inside the kit."""
    if not isinstance(files, (list, tuple)):
        raise AnsibleActionFail("edgefl.nvflare.kit_push: files must be a list of paths relative to %s" % src)
    for rel in files:
        if not inside(rel):
            raise AnsibleActionFail("edgefl.nvflare.kit_push: %r is not a path inside the kit directory; give paths "
                                    "relative to %s" % (rel, src))
    return list(files)


def pack(files, src, out):
    """Write a tar of ``files`` (relative to ``src``) to the open binary file ``out``: regular files only, 0600."""
    with tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        for rel in files:
            full = os.path.join(src, rel)
            if not os.path.isfile(full) or os.path.islink(full):
                raise AnsibleActionFail("edgefl.nvflare.kit_push: %s is not a regular file on the control node" % full)
            info = tar.gettarinfo(full, arcname=rel)
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
            with open(full, "rb") as f:
                tar.addfile(info, f)


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        src = args.get("src")
        try:
            if not src or not args.get("dest"):
                raise AnsibleActionFail("edgefl.nvflare.kit_push: src (the kit on the control node) and dest are required")
            files = check_files(args.get("files"), src)
            if args.get("archive"):
                raise AnsibleActionFail("edgefl.nvflare.kit_push: archive is set by the action plugin, not by the task")
            if self._task.check_mode or not files:
                result.update(changed=bool(files), files=files)
                return result
            _kit_tmp.sweep()  # what killed runs left
            fd, local = _kit_tmp.make()  # 0600
            try:
                with os.fdopen(fd, "wb") as out:
                    pack(files, src, out)
                shell = self._connection._shell  # pylint: disable=protected-access
                remote = shell.join_path(shell.tmpdir, "kit.tar")
                self._transfer_file(local, remote)
                self._fixup_perms2((shell.tmpdir, remote))
            finally:
                os.unlink(local)
            result.update(self._execute_module(module_name="edgefl.nvflare.kit_push",
                                               module_args=dict(args, files=files, archive=remote),
                                               task_vars=task_vars))
            return result
        except AnsibleActionFail as exc:
            result.update(exc.result)
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)  # pylint: disable=protected-access
