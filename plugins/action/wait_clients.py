# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for edgefl.nvflare.wait_clients: the wait loop runs here and prints progress lines.

Each poll is one edgefl.nvflare.status module run on the task's host (the control node); between
polls this plugin prints ``clients connected x/y (quorum q); missing: ...`` through Ansible's Display,
which the default callback shows at once (worker processes forward display calls to the main
process). So a long wait shows a line on every change and at least every 20 s, instead of nothing
or a row of "FAILED - RETRYING" lines. The quorum decision is the tested module_utils/_quorum.py.
"""

from __future__ import annotations

import time

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.edgefl.nvflare.plugins.module_utils._quorum import (
    QuorumError,
    failure_msg,
    quorum,
    wait_decision,
    wait_result,
)

display = Display()

PROGRESS_EVERY = 20  # seconds between two progress lines when nothing changes
_OWN = ("expected_clients", "min_clients", "timeout", "poll_interval", "quorum_grace", "jobs", "jobs_limit", "versions")


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        try:
            expected = [to_text(n) for n in (args.get("expected_clients") or [])]
            min_value = to_text(args.get("min_clients", "all"))
            timeout = int(args.get("timeout", 180))
            poll = float(args.get("poll_interval", 3))
            grace = int(args.get("quorum_grace", 30))
            quorum(expected, [], min_value)
        except (TypeError, ValueError, QuorumError) as e:
            result.update(failed=True, msg="wait_clients: %s" % e)
            return result
        if timeout < 0 or poll <= 0:
            result.update(failed=True, msg="wait_clients: timeout must be >= 0 and poll_interval > 0")
            return result
        session = dict((k, v) for k, v in args.items() if k not in _OWN)
        poll_args = dict(session, expected_clients=expected, fail_unreachable=False)
        host = task_vars.get("inventory_hostname", "localhost") if task_vars else "localhost"
        start = time.monotonic()
        last_line, last_shown = None, None
        while True:
            status = self._execute_module(
                module_name="edgefl.nvflare.status", module_args=poll_args, task_vars=task_vars
            )
            waited = time.monotonic() - start
            if status.get("failed"):  # admin kit or credentials: nothing to wait for
                result.update(status)
                return result
            q, res = wait_result(status, expected, min_value, waited)
            decision = wait_decision(q, waited, timeout, grace)
            now = time.monotonic()
            if res["msg"] != last_line or now - last_shown >= PROGRESS_EVERY or decision != "wait":
                display.display("[%s] wait for clients, %ds/%ds: %s" % (host, waited, timeout, res["msg"]))
                last_line, last_shown = res["msg"], now
            if decision != "wait":
                break
            time.sleep(poll)
        if boolish(args.get("jobs")) or boolish(args.get("versions")):
            final_args = dict(poll_args)
            for key in ("jobs", "jobs_limit", "versions"):
                if key in args:
                    final_args[key] = args[key]
            status = self._execute_module(
                module_name="edgefl.nvflare.status", module_args=final_args, task_vars=task_vars
            )
            if not status.get("failed"):
                q, res = wait_result(status, expected, min_value, waited)
        result.update(res)
        if decision == "fail" or not q["ok"]:
            result.update(failed=True, msg=failure_msg(q, waited, status))
        return result


def boolish(value):
    return to_text(value).lower() in ("1", "true", "yes", "on", "y")
