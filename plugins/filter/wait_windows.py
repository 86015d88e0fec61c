# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: wait_windows
short_description: Split a wait of some seconds into windows waited on the host and the retries of an until loop
version_added: 1.5.0
positional: _input, window
author:
  - edgefl maintainers (@edgefl)
description:
  - A task that waits on the host for at most W seconds per module run, repeated by C(until) with C(delay 0),
    waits O(_input) seconds in all when it runs with the C(window) and C(retries) this filter returns.
  - C(window) is O(window) seconds, or less when the whole wait is shorter, and at least 1.
  - C(retries) counts the runs after the first (an C(until) loop runs C(retries) + 1 times), so the runs add up to
    the wait rounded up to a whole window. A wait of 0 seconds or less is one run of 1 second.
  - Used by the C(nvflare_service) role, which waits on the host for a client's registration in windows of 25
    seconds, so that a host still waiting prints a retry line at least every 30 seconds instead of running one
    module a second.
options:
  _input:
    description: The whole wait, in seconds (a number or a numeric string).
    type: raw
    required: true
  window:
    description: The longest single wait on the host, in seconds; at least 1.
    type: int
    default: 25
"""

EXAMPLES = r"""
- name: Wait for the line on the host, at most 120 s in windows of 25 s
  ansible.builtin.command:
    argv: [/usr/local/bin/wait-for-line, "{{ __windows.window }}"]
  register: __line
  until: __line.stdout | length > 0
  retries: "{{ __windows.retries }}"
  delay: 0
  changed_when: false
  vars:
    __windows: "{{ 120 | edgefl.nvflare.wait_windows(25) }}"
"""

RETURN = r"""
_value:
  description: How long each run waits and how often the until loop repeats it.
  type: dict
  contains:
    window:
      description: Seconds one run waits on the host, between 1 and O(window).
      type: int
      sample: 25
    retries:
      description: The C(retries) of the until loop; the loop runs this + 1 times.
      type: int
      sample: 4
"""

import math

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.plugin_utils._seconds import seconds


def _seconds(value, what):
    return seconds(value, what, "wait_windows")


def wait_windows(timeout, window=25):
    total = _seconds(timeout, "the timeout")
    longest = _seconds(window, "window")
    if not math.isfinite(total):
        raise AnsibleFilterError("wait_windows: the timeout must be a finite number of seconds, got %r" % (timeout,))
    if not math.isfinite(longest):
        raise AnsibleFilterError("wait_windows: window must be a finite number of seconds, got %r" % (window,))
    if longest < 1:
        raise AnsibleFilterError("wait_windows: window must be at least 1 second, got %r" % (window,))
    size = max(1, min(int(longest), math.ceil(total)))  # a whole second, at least 1, at most the window
    runs = max(1, math.ceil(total / size))               # one run at least
    return {"window": size, "retries": runs - 1}


class FilterModule:
    def filters(self):
        return {"wait_windows": wait_windows}
