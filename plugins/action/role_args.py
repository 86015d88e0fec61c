# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for edgefl.nvflare.role_args: the role's variables against its own argument spec, on the
controller (ansible.builtin.validate_argument_spec's way of reading them), strict about lists and mappings
(plugin_utils/_arg_spec.py). No module runs on the host."""

from __future__ import annotations

import os

import yaml
from ansible.errors import AnsibleActionFail
from ansible.plugins.action.validate_argument_spec import ActionModule as ValidateArgumentSpec

from ansible_collections.edgefl.nvflare.plugins.plugin_utils._arg_spec import arg_spec_errors


def load_options(role_path, entry_point):
    """The options of an entry point of the role's meta/argument_specs.yml (read each time: Ansible forks a worker
    for each task and host, so nothing read here would serve a second call)."""
    path = os.path.join(role_path, "meta", "argument_specs.yml")
    try:
        with open(path, encoding="utf-8") as f:
            specs = (yaml.safe_load(f) or {}).get("argument_specs") or {}
    except OSError:
        raise AnsibleActionFail("role_args: %s does not exist: run this task inside a role that has an argument spec"
                                % path)
    entry = specs.get(entry_point)
    if not isinstance(entry, dict):
        raise AnsibleActionFail("role_args: %s has no entry point %r" % (path, entry_point))
    return entry.get("options") or {}


class ActionModule(ValidateArgumentSpec):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ValidateArgumentSpec, self).run(tmp, task_vars)  # ActionBase.run: not the parent's checks
        del tmp
        role_path = task_vars.get("role_path")
        if not role_path:
            raise AnsibleActionFail("role_args: no role_path: run this task inside a role")
        options = load_options(role_path, self._task.args.get("entry_point", "main"))
        errors = arg_spec_errors(options, self.get_args_from_task_vars(options, task_vars))
        role = task_vars.get("role_name") or os.path.basename(role_path)
        if errors:
            host = task_vars.get("inventory_hostname")
            result.update(failed=True, argument_errors=errors,
                          msg="%s: invalid input on %s: %s" % (role, host, "; ".join(errors)))
        else:
            result.update(changed=False, argument_errors=[], msg="%s: the variables match its argument spec" % role)
        return result
