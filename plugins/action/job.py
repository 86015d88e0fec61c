# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for edgefl.nvflare.job: shows the progress of a job while the task waits for it.

Without waiting (or in check mode) it runs the module once. When the task waits, the module runs
first with ``wait=false`` (checks the folder and submits, or finds the job its submit token already
has), then once per poll on that job id with ``wait=false``; between polls this plugin prints
``job <id>: <status>, <waited>s/<timeout>s[, round <n> started]`` through Ansible's Display (the default
callback shows it at once) on every change of status or round and at least every 20 s; the round is the
last "Round <n> started" line of the server's job log (NVFLARE's FedAvg and ScatterAndGather write it).
A last module run waits out the rest of the timeout (immediate for a finished job), downloads the result and reports a failed job exactly as the module does.

With ``run_lock`` (the federation's run lock file) the submission, and only the submission, holds that lock
(module_utils._run_lock.hold): it waits for a run that changes the federation, and such a run waits for it.
"""

from __future__ import annotations

import math
import time

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.edgefl.nvflare.plugins.module_utils._run_lock import RunLockError, hold, run_owner
from ansible_collections.edgefl.nvflare.plugins.plugin_utils._display import live_warning

display = Display()

PROGRESS_EVERY = 20  # seconds between two progress lines when nothing changes
MIN_POLL = 5.0  # each poll is one module run (a new admin session): not more often than this
_SESSION = ("admin_kit", "username", "connect_timeout")
_TERMINAL = ("FINISHED_OK", "FINISHED_EXCEPTION", "ABORTED", "ABANDONED", "FAILED")


def is_terminal(status):
    return isinstance(status, str) and (status.startswith("FINISHED") or status in _TERMINAL)


def progress_line(host, job_id, status, waited, timeout, job_round=None):
    """One progress line: status and time, then the training round the server's job log last started."""
    line = "[%s] job %s: %s, %ds/%ds" % (host, job_id, status, waited, timeout)
    return line if job_round is None else "%s, round %s started" % (line, job_round)


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def _module(self, args, task_vars):
        return self._execute_module(module_name="edgefl.nvflare.job", module_args=args, task_vars=task_vars)

    def _submit(self, module_args, task_vars, lock_path, lock_timeout):
        """The module run that may submit a job, holding the run lock while it runs when asked to."""
        if not lock_path or not module_args.get("src") or self._task.check_mode:
            return self._module(module_args, task_vars)
        try:
            timeout = int(lock_timeout)
        except (TypeError, ValueError):
            return {"failed": True, "error": "run_lock",
                    "msg": "run_lock_timeout must be a whole number of seconds, got %r" % (lock_timeout,)}
        owner = run_owner()
        try:
            with hold(lock_path, owner, timeout, progress=live_warning(display)) as got:
                res = self._module(module_args, task_vars)
        except RunLockError as exc:
            return {"failed": True, "error": "run_lock", "msg": "%s Nothing was submitted." % exc}
        res["run_lock"] = dict((k, got[k]) for k in ("acquired", "held_by_this_run", "waited", "holder", "msg"))
        return res

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        lock_path, lock_timeout = args.pop("run_lock", None), args.pop("run_lock_timeout", 1800)
        wait = args.get("wait")
        if self._task.check_mode or not boolean(True if wait is None else wait, strict=False):
            result.update(self._submit(args, task_vars, lock_path, lock_timeout))
            return result
        try:
            timeout = int(args.get("timeout", 900))
            poll = max(float(args.get("poll_interval", 2)), MIN_POLL)
        except (TypeError, ValueError):
            result.update(self._module(args, task_vars))  # the module reports the bad value
            return result
        host = (task_vars or {}).get("inventory_hostname", "localhost")
        start = time.monotonic()
        first_args = dict(args, wait=False)
        first_args.pop("dest", None)
        first = self._submit(first_args, task_vars, lock_path, lock_timeout)
        if first.get("failed") or not first.get("job_id"):
            result.update(first)
            return result
        start += first.get("run_lock", {}).get("waited", 0)  # the job's timeout does not count a wait for the lock
        carried = dict((k, first[k]) for k in ("submitted", "submit_token", "run_lock", "job_folder") if k in first)
        job_id, status = first["job_id"], first.get("status")
        by_id = dict((k, args[k]) for k in _SESSION if k in args)
        by_id.update(job_id=job_id, wait=False, progress=True)
        last_status, last_shown, job_round = None, None, None
        while True:
            waited = time.monotonic() - start
            now = time.monotonic()
            if (status, job_round) != last_status or now - last_shown >= PROGRESS_EVERY:
                display.display(progress_line(host, job_id, status, waited, timeout, job_round))
                last_status, last_shown = (status, job_round), now
            if is_terminal(status) or waited >= timeout:
                break
            time.sleep(min(poll, max(timeout - waited, 0.1)))
            res = self._module(by_id, task_vars)
            if res.get("failed"):
                res.update(carried)
                res["changed"] = bool(first.get("changed") or res.get("changed"))
                result.update(res)
                return result
            status, job_round = res.get("status"), res.get("round")
        remaining = timeout - (time.monotonic() - start)
        last_args = dict((k, v) for k, v in args.items() if k not in ("src", "submit_token"))
        last_args.update(job_id=job_id, wait=True, timeout=max(1, int(math.ceil(remaining))))
        final = self._module(last_args, task_vars)
        final.update(carried)
        final["changed"] = bool(first.get("changed") or final.get("changed"))
        if final.get("error") == "timeout":
            # the module waited for the rest of the time only: say the whole timeout, with the status it waited on
            # (with abort_on_timeout the returned status is the aborted one) and its reason
            final["msg"] = "job %s did not finish within %ss (last status %s): %s" % (
                job_id, timeout, final.get("waited_status") or final.get("status") or status, final.get("reason") or (
                    "raise timeout, or check that enough clients are connected for the job's min_clients"))
        if final.get("status") != status and final.get("status"):
            display.display("[%s] job %s: %s" % (host, job_id, final.get("status")))
        result.update(final)
        return result
