# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for edgefl.nvflare.provision: provision inside the controller's worker process.

Provisioning always happens on the control node, so there is nothing to send to a host. Running
the shared runner here, in the worker Ansible has already forked for the task, saves what every
module task costs before its first line runs: building the AnsiballZ payload, starting a Python
process and importing ``ansible.module_utils.basic`` (about 0.3 s per task on a 2-core machine,
measured in bench/bench_provision.py). The module in plugins/modules/ keeps the documentation and
validates with the same argument spec.
"""

from __future__ import annotations

import json

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.edgefl.nvflare.plugins.module_utils._provision_runner import (
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    ProvisionRunner,
)


class _TaskModule:
    """The part of AnsibleModule the runner uses, for a run inside the controller."""

    def __init__(self, params, check_mode, diff):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []
        self.play_name = None

    def progress(self, msg):
        """Shown at once (a run waiting for the workspace lock says so while it waits)."""
        Display().warning(msg)

    def warn(self, warning):
        self.warnings.append(warning)


class ActionModule(ActionBase):
    """Validate the task's options with the module's argument spec and run the provisioning runner."""

    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # not used: nothing is copied to a host
        _validation, args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC,
            mutually_exclusive=MUTUALLY_EXCLUSIVE,
            required_one_of=REQUIRED_ONE_OF,
        )
        # the same plain JSON values a module process would get as its parameters
        params = json.loads(json.dumps(args))
        module = _TaskModule(params, bool(self._task.check_mode), bool(self._task.diff))
        play = self._task.get_play() if hasattr(self._task, "get_play") else None
        module.play_name = getattr(play, "name", None) or None
        result.update(ProvisionRunner(module).outcome())
        if module.warnings:
            result["warnings"] = module.warnings
        return result
