# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures: import the collection from the checkout and run modules in-process."""

from __future__ import annotations

import json
import os
import sys

import pytest
# re-exported: the unit tests import snapshot from conftest
from tree_snapshot import snapshot  # noqa: F401  pylint: disable=unused-import

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


class ModuleExit(Exception):
    def __init__(self, result):
        super().__init__(result.get("msg", ""))
        self.result = result


@pytest.fixture
def run_module(capsys, monkeypatch):
    """run_module(main, args, check_mode=False, diff=False) -> result dict (failed results included)."""
    from ansible.module_utils.testing import patch_module_args

    def _run(main, args, check_mode=False, diff=False):
        full = dict(args)
        full["_ansible_check_mode"] = check_mode
        full["_ansible_diff"] = diff
        capsys.readouterr()
        # warnings are process-global in ansible-core; each real module run starts with none
        from ansible.module_utils.common import warnings as ansible_warnings

        ansible_warnings._global_warnings.clear()  # pylint: disable=protected-access
        ansible_warnings._global_deprecations.clear()  # pylint: disable=protected-access
        # a real module runs in its own process, never as controller code (the filter tests import
        # controller code into this process, which would route module warnings to Display)
        from ansible.module_utils import _internal

        monkeypatch.setattr(_internal, "is_controller", False)
        with patch_module_args(full):
            with pytest.raises(SystemExit):
                main()
        return json.loads(capsys.readouterr().out)

    return _run


def warnings_of(result):
    """Warning texts of a run_module result (ansible-core 2.19 returns structured summaries)."""
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


def run_playbook(cwd, *args, timeout=300):
    """ansible-playbook of this checkout (its ansible.cfg, the default callback, no colour) run in ``cwd`` with
    ``args``; the CompletedProcess, whatever its return code. Local hosts get this interpreter."""
    import subprocess

    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook")] + [str(a) for a in args]
    return subprocess.run(argv, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout, check=False)


def flat(text):
    """Output with every run of whitespace made one space: the YAML callback wraps long lines."""
    return " ".join(text.split())


def unreachable_inventory(tmp_path, client_vars=""):
    """inv.yml in TMP_PATH: federation 'fed' with its workspace at TMP_PATH/ws (not created), one server and one
    client c1 (CLIENT_VARS: more of its variables, YAML flow entries) on TEST-NET addresses that never answer.
    Returns the workspace path."""
    ws = tmp_path / "ws"
    (tmp_path / "inv.yml").write_text(
        "all:\n"
        "  vars: {ansible_connection: ssh, nvflare_workspace: \"%s\", nvflare_project_name: fed}\n"
        "  children:\n"
        "    nvflare_server: {hosts: {s: {ansible_host: 192.0.2.1}}}\n"
        "    nvflare_clients: {hosts: {c1: {ansible_host: 192.0.2.2%s}}}\n" % (ws, ", " + client_vars if client_vars else ""))
    return ws
