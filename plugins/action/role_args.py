# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for edgefl.nvflare.role_args: the role's variables against its own argument spec, on the
controller (ansible.builtin.validate_argument_spec's way of reading them), strict about lists and mappings
(plugin_utils/_arg_spec.py), then the role's rules that need no facts (plugin_utils/_role_input.py). With ``roles``
it does that for roles that are not running, on the variables the inventory and the command line set (the first
play of site.yml). No module runs on the host."""

from __future__ import annotations

import os

import yaml
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action.validate_argument_spec import ActionModule as ValidateArgumentSpec
from ansible_collections.edgefl.nvflare.plugins.plugin_utils import _role_input
from ansible_collections.edgefl.nvflare.plugins.plugin_utils._arg_spec import arg_spec_errors
from ansible_collections.edgefl.nvflare.plugins.plugin_utils._model import _is_undefined

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# the collection's roles, for the roles option
ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")
RELAY_GROUP = "nvflare_relays"


def load_options(role_path, entry_point):
    """The options of an entry point of the role's meta/argument_specs.yml (read each time: Ansible forks a worker
    for each task and host, so nothing read here would serve a second call)."""
    path = os.path.join(role_path, "meta", "argument_specs.yml")
    try:
        with open(path, encoding="utf-8") as f:
            specs = (yaml.load(f, Loader=_LOADER) or {}).get("argument_specs") or {}
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

    def _set_values(self, options, task_vars):
        """The options set for this host that can be read without facts: a value whose template needs what the play
        has not got yet (facts) is left to the role's own run."""
        values = {}
        for name in options:
            if name not in task_vars:
                continue
            try:
                value = self._templar.template(task_vars[name])
            except AnsibleError:
                continue
            if not _is_undefined(value):
                values[name] = value
        return values

    def _errors(self, role, options, values, task_vars):
        errors = arg_spec_errors(options, values)
        if errors:
            return errors  # the rules expect the types the spec gives
        return _role_input.errors(role, values, relay=RELAY_GROUP in (task_vars.get("group_names") or []),
                                  connection=str(task_vars.get("ansible_connection") or "ssh"),
                                  remote_user=self._remote_user(task_vars))

    def _remote_user(self, task_vars):
        """The account Ansible logs in with, when the inventory names it; '' otherwise."""
        login = self._set_values(("ansible_user", "ansible_ssh_user"), task_vars)
        return str(login.get("ansible_user") or login.get("ansible_ssh_user") or "")

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ValidateArgumentSpec, self).run(tmp, task_vars)  # ActionBase.run: not the parent's checks
        del tmp
        entry_point = self._task.args.get("entry_point", "main")
        host = task_vars.get("inventory_hostname")
        roles = self._task.args.get("roles")
        if roles:
            if not isinstance(roles, list):
                raise AnsibleActionFail("role_args: roles must be a list of this collection's role names")
            found = []
            for name in roles:
                role = str(name).rsplit(".", 1)[-1]
                path = os.path.join(ROLES_DIR, role)
                if not os.path.isdir(path):
                    raise AnsibleActionFail("role_args: edgefl.nvflare has no role %r" % (name,))
                options = load_options(path, entry_point)
                values = self._set_values(options, task_vars)
                found.extend("%s: %s" % (role, e) for e in self._errors(role, options, values, task_vars))
            if found:
                result.update(failed=True, argument_errors=found,
                              msg="invalid input on %s: %s" % (host, "; ".join(found)))
            else:
                result.update(changed=False, argument_errors=[],
                              msg="the variables set for %s match the roles' argument specs and rules" % host)
            return result
        role_path = task_vars.get("role_path")
        if not role_path:
            raise AnsibleActionFail("role_args: no role_path: run this task inside a role, or give roles")
        options = load_options(role_path, entry_point)
        role = task_vars.get("role_name") or os.path.basename(role_path)
        errors = self._errors(role.rsplit(".", 1)[-1], options, self.get_args_from_task_vars(options, task_vars),
                              task_vars)
        if errors:
            result.update(failed=True, argument_errors=errors,
                          msg="%s: invalid input on %s: %s" % (role, host, "; ".join(errors)))
        else:
            result.update(changed=False, argument_errors=[], msg="%s: the variables match its argument spec" % role)
        return result
