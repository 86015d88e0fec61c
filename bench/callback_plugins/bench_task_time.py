# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark helper: write each task's wall time and result to the JSON file $EDGEFL_BENCH_TASK_TIMES.

A task's time runs from the strategy announcing it to its result arriving back in the
controller: forking the worker, templating, the action (for a module: building AnsiballZ,
starting Python, the module itself) and returning the result. Not part of the collection.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_task_time
type: aggregate
short_description: Per-task wall time and result for bench/bench_provision.py
description: Writes each task's wall time and result to the JSON file named by E(EDGEFL_BENCH_TASK_TIMES).
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_task_time"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._start = {}
        self._times = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start[task.get_name()] = time.perf_counter()

    def _done(self, result):
        end = time.perf_counter()
        name = result.task_name
        self._times[name] = {"seconds": end - self._start[name],
                             "result": json.loads(json.dumps(dict(result.result), default=str))}

    def v2_runner_on_ok(self, result):
        self._done(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result)

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["EDGEFL_BENCH_TASK_TIMES"], "w") as f:
            json.dump(self._times, f)
