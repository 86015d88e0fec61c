# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for edgefl.nvflare.run_lock: take the run lock inside the controller's worker process.

The lock belongs to the ansible-playbook process, which is the worker's parent: the worker finds it without the
module process, SSH or AnsiballZ a module run costs, and without depending on the host the task runs for (the
lock is always on the control node). The module in plugins/modules/ keeps the documentation and the argument spec.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.edgefl.nvflare.plugins.module_utils._run_lock import (
    ARGUMENT_SPEC,
    RunLockError,
    acquire,
    run_owner,
)
from ansible_collections.edgefl.nvflare.plugins.plugin_utils import _kit_tmp
from ansible_collections.edgefl.nvflare.plugins.plugin_utils._display import live_warning


class ActionModule(ActionBase):
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # nothing goes to a host
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        owner = run_owner()
        display = Display()
        try:
            got = acquire(args["path"], owner, args["timeout"], check_mode=bool(self._task.check_mode),
                          progress=live_warning(display))
        except RunLockError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(got, changed=False, path=args["path"])
        if not self._task.check_mode:
            # the kit archives (private keys inside) that earlier runs killed mid-push left on this control node
            result["removed_kit_archives"] = len(_kit_tmp.sweep())
        return result
