# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.wait_windows: a wait split into windows on the host and the retries of an until loop."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.wait_windows import FilterModule

wait_windows = FilterModule().filters()["wait_windows"]


@pytest.mark.parametrize("timeout, window, retries", [
    (0, 1, 0),        # no wait: one run of the shortest window
    (-5, 1, 0),
    (1, 1, 0),
    (12, 12, 0),      # shorter than a window: one run of exactly the timeout
    (25, 25, 0),
    (26, 25, 1),      # one second over: a second run
    (50, 25, 1),
    (120, 25, 4),     # 5 runs of 25 s
    (125, 25, 4),
    (126, 25, 5),
    ("120", 25, 4),   # a string from -e
    (12.5, 13, 0),    # a fraction rounds the window up, never to 0
])
def test_window_and_retries(timeout, window, retries):
    assert wait_windows(timeout) == {"window": window, "retries": retries}


@pytest.mark.parametrize("timeout", [0, 1, 7, 12, 24, 25, 26, 49, 50, 51, 119, 120, 121, 600])
def test_runs_cover_the_timeout_by_less_than_one_window(timeout):
    got = wait_windows(timeout)
    covered = got["window"] * (got["retries"] + 1)
    assert covered >= timeout
    assert covered - timeout < got["window"] or timeout <= 0
    assert got["window"] <= 25


def test_other_window():
    assert wait_windows(600, 10) == {"window": 10, "retries": 59}
    assert wait_windows(5, 10) == {"window": 5, "retries": 0}
    assert wait_windows("30", "10") == {"window": 10, "retries": 2}


@pytest.mark.parametrize("timeout, window, match", [
    ("soon", 25, "the timeout must be a number of seconds, got 'soon'"),
    (None, 25, "the timeout must be a number of seconds, got None"),
    (True, 25, "the timeout must be a number of seconds, got True"),
    (120, 0, "window must be at least 1 second, got 0"),
    (120, "x", "window must be a number of seconds, got 'x'"),
    ("inf", 25, "the timeout must be a finite number of seconds, got 'inf'"),
    (float("nan"), 25, "the timeout must be a finite number of seconds, got nan"),
    (120, "inf", "window must be a finite number of seconds, got 'inf'"),
])
def test_bad_input_says_what_is_wrong(timeout, window, match):
    with pytest.raises(AnsibleFilterError, match=match):
        wait_windows(timeout, window)
