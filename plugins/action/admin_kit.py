# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for edgefl.nvflare.admin_kit: the signing stays on the control node.

The provisioned kit (src) and the root CA key (cert_state) are on the control node. On a local
connection (the admin kit on the control node, the normal case) the module runs as it is. For an
admin host reached over a connection, this plugin reads the installed fed_admin.json and
signature.json there (slurp), decides and signs here (module_utils/_admin_kit.plan), and copies only
the files that differ with ansible.builtin.copy (mode 0600): the key never leaves the control node.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.edgefl.nvflare.plugins.module_utils._admin_kit import (
    CONFIG_FILE,
    SIGNATURE_FILE,
    AdminKitError,
    plan,
)


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def _remote_file(self, path, task_vars):
        res = self._execute_module(module_name="ansible.legacy.slurp", module_args={"src": path},
                                   task_vars=task_vars)
        if res.get("failed"):
            return None
        return base64.b64decode(res["content"])

    def _copy(self, data, dest, task_vars, tmpdir):
        local = os.path.join(tmpdir, os.path.basename(dest))
        with open(local, "wb") as f:
            f.write(data)
        os.chmod(local, 0o600)
        task = self._task.copy()
        task.args.clear()
        task.args.update({"src": local, "dest": dest, "mode": "0600"})
        copy = self._shared_loader_obj.action_loader.get(
            "ansible.legacy.copy", task=task, connection=self._connection, play_context=self._play_context,
            loader=self._loader, templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        return copy.run(task_vars=task_vars)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        if self._connection.transport == "local":
            result.update(self._execute_module(module_name="edgefl.nvflare.admin_kit", module_args=args,
                                               task_vars=task_vars))
            return result
        src = os.path.join(os.path.expanduser(to_text(args.get("src") or "")), "startup")
        dest = to_text(args.get("dest") or "").rstrip("/") + "/startup"
        if not os.path.isdir(src):
            result.update(failed=True, msg="admin_kit: src has no startup/ folder on the control node (%s)" % src)
            return result
        if not isinstance(args.get("config"), dict):
            result.update(failed=True, msg="admin_kit: config must be a dict (the content of fed_admin.json)")
            return result
        installed = (self._remote_file(dest + "/" + CONFIG_FILE, task_vars),
                     self._remote_file(dest + "/" + SIGNATURE_FILE, task_vars))
        cert_state = os.path.expanduser(to_text(args.get("cert_state") or "")) or None
        try:
            todo = plan(src, installed, args["config"], cert_state)
        except AdminKitError as exc:
            result.update(failed=True, msg="admin_kit: %s" % exc)
            return result
        if todo["warning"]:
            self._display.warning(todo["warning"])
        written, changed = [], False
        tmpdir = tempfile.mkdtemp(prefix="edgefl-admin-kit-")
        try:
            for name, key in ((CONFIG_FILE, "config"), (SIGNATURE_FILE, "signature")):
                if todo[key] is None:
                    continue
                res = self._copy(todo[key], dest + "/" + name, task_vars, tmpdir)
                if res.get("failed"):
                    result.update(failed=True, msg="admin_kit: copying %s failed: %s" % (name, res.get("msg")))
                    return result
                written.append("startup/" + name)
                changed = changed or bool(res.get("changed"))
                if key == "config" and res.get("diff"):
                    result["diff"] = res["diff"]
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        result.update(changed=changed, written=written, signed=todo["signed"])
        return result
