# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.limit_hosts: does a --limit name its hosts one by one?"""

from __future__ import annotations

import pytest

from ansible_collections.edgefl.nvflare.plugins.filter.limit_hosts import FilterModule

limit_hosts = FilterModule().filters()["limit_hosts"]
GROUPS = {"all": ["server1", "site-1", "site-2"], "ungrouped": [], "nvflare_server": ["server1"],
          "nvflare_clients": ["site-1", "site-2"]}


@pytest.mark.parametrize("limit, expected", [
    (None, []),
    ("", []),
    ("site-1", ["site-1"]),
    ("site-1,site-2", ["site-1", "site-2"]),
    ("site-1:site-2,site-1", ["site-1", "site-2"]),
    ("nvflare_clients", []),              # a group
    ("site-1,nvflare_clients", []),
    ("site-*", []),                       # a wildcard
    ("~site-[12]", []),                   # a regular expression
    ("all:!site-1", []),                  # an exclusion
    ("nvflare_clients:&site-1", []),      # an intersection
    ("@/tmp/retry", []),                  # a retry file
    ("site-9", []),                       # not an inventory host
    ("all", []),
])
def test_limit_hosts(limit, expected):
    assert limit_hosts(limit, GROUPS) == expected
