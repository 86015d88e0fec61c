# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugin_utils._seconds: the number-of-seconds argument the clock_skew and wait_windows filters share."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.clock_skew import FilterModule as ClockSkew
from ansible_collections.edgefl.nvflare.plugins.filter.wait_windows import FilterModule as WaitWindows
from ansible_collections.edgefl.nvflare.plugins.plugin_utils._seconds import seconds


@pytest.mark.parametrize("value, expected", [(0, 0.0), (12, 12.0), (-3.5, -3.5), ("60", 60.0), (" 7.25 ", 7.25)])
def test_numbers_and_numeric_strings(value, expected):
    assert seconds(value, "the timeout", "some_filter") == expected


@pytest.mark.parametrize("value", [True, False, None, "", "soon", [], {}, object()])
def test_anything_else_names_the_filter_and_the_argument(value):
    with pytest.raises(AnsibleFilterError) as err:
        seconds(value, "the timeout", "some_filter")
    assert str(err.value).startswith("some_filter: the timeout must be a number of seconds, got %r" % (value,))


def test_both_filters_say_which_filter_refused_it():
    with pytest.raises(AnsibleFilterError, match=r"^clock_skew: max_seconds must be a number of seconds, got 'x'"):
        ClockSkew().filters()["clock_skew"](0, 0, "x")
    with pytest.raises(AnsibleFilterError, match=r"^wait_windows: window must be a number of seconds, got 'x'"):
        WaitWindows().filters()["wait_windows"](10, "x")
