# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.clock_skew: the offset of a host's clock to the control node's, and the verdict."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.clock_skew import FilterModule

clock_skew = FilterModule().filters()["clock_skew"]
T = 1796150000.0


@pytest.mark.parametrize("host, controller, limit, offset, ok, msg", [
    (T, T, 60, 0.0, True, "clock in step with the control node (max 60 s)"),
    (T + 0.44, T, 60, 0.4, True, "clock 0.4 s ahead of the control node (max 60 s)"),
    (T - 60, T, 60, -60.0, True, "clock 60 s behind the control node (max 60 s)"),
    (T - 60.2, T, 60, -60.2, False, "clock 60.2 s behind the control node (max 60 s)"),
    (T + 3600, T, 60, 3600.0, False, "clock 3600 s ahead of the control node (max 60 s)"),
    (str(int(T) - 125), str(T), "60", -125.0, False, "clock 125 s behind the control node (max 60 s)"),
    (T + 3600, T, 0, 3600.0, True, "clock 3600 s ahead of the control node (not checked)"),
    (T + 5, T, 2.5, 5.0, False, "clock 5 s ahead of the control node (max 2.5 s)"),
])
def test_offset_and_verdict(host, controller, limit, offset, ok, msg):
    assert clock_skew(host, controller, limit) == {"offset": offset, "ok": ok, "msg": msg}


@pytest.mark.parametrize("host, window, offset", [
    (T + 10, [T, T + 20], 0.0),         # read somewhere inside the window: in step
    (T - 90, [T, T + 20], -90.0),       # behind even the earliest moment
    (T + 100, [T + 20, T], 80.0),       # ahead of the latest moment (pair order does not matter)
    (T + 20, (T, T + 20), 0.0),
])
def test_window_takes_the_offset_nearest_zero(host, window, offset):
    assert clock_skew(host, window, 60)["offset"] == offset


def test_a_slow_fact_gathering_is_no_skew():
    # the host was read 40 s before the control node looked at its own clock: a single reading
    # would call that 40 s behind; the window [before gathering, now] knows better
    assert clock_skew(T, T + 40, 30)["ok"] is False
    expected = {"offset": 0.0, "ok": True, "msg": "clock in step with the control node (max 30 s)"}
    assert clock_skew(T, [T - 1, T + 40], 30) == expected


@pytest.mark.parametrize("host, controller, limit", [
    ("soon", T, 60),
    (None, T, 60),
    (T, [T], 60),
    (T, [T, "x"], 60),
    (T, T, "sixty"),
    (True, T, 60),
])
def test_bad_input_is_a_clear_error(host, controller, limit):
    with pytest.raises(AnsibleFilterError, match="clock_skew"):
        clock_skew(host, controller, limit)
