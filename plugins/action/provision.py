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

Another NVFLARE version: when the task's ``ansible_python_interpreter`` is another Python than the one
running Ansible (playbooks/provision.yml sets it from ``nvflare_control_python``, e.g. a venv made by
scripts/nvflare-venv.sh 2.4.2), the module runs as an ordinary module process under that Python, so it
provisions with that Python's nvflare.
"""

from __future__ import annotations

import json
import os
import sys

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

    def _other_python(self, task_vars):
        """The task's interpreter when it is not the Python running this controller, else None."""
        value = (task_vars or {}).get("ansible_python_interpreter")
        if value is None:
            return None
        value = self._templar.template(value)
        if not isinstance(value, str) or not value or value.startswith("auto"):
            return None
        path = os.path.abspath(os.path.expanduser(value))
        if path == os.path.abspath(sys.executable):
            return None
        return path

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # not used: nothing is copied to a host
        if self._other_python(task_vars):
            # another Python (another nvflare): the module process, with the task's own argument validation
            result.update(self._execute_module(module_name="edgefl.nvflare.provision", module_args=self._task.args,
                                               task_vars=task_vars))
            return result
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
