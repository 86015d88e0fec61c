# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench/bench_fleet.py keeps the last complete runs in fleet.json under "previous"; a partial run never hides one."""

from __future__ import annotations

import importlib.util
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BENCH = os.path.join(ROOT, "bench")


def _load():
    sys.path.insert(0, BENCH)  # bench_fleet imports bench_federation from its own folder
    try:
        spec = importlib.util.spec_from_file_location("bench_fleet", os.path.join(BENCH, "bench_fleet.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(BENCH)


carry_previous = _load().carry_previous


def run(name, complete=True, previous=None):
    doc = {"commit": name, "sizes": {"3": {"cold_site_yml": 1.0}}, "complete": complete}
    if previous is not None:
        doc["previous"] = previous
    return doc


def chain(doc):
    names = []
    while doc:
        names.append(doc["commit"])
        doc = doc.get("previous")
    return names


def test_no_file_or_not_a_run_gives_no_previous():
    assert carry_previous(None) is None
    assert carry_previous([1, 2]) is None
    assert carry_previous(run("partial", complete=False)) is None


def test_a_complete_run_becomes_the_previous():
    got = carry_previous(run("a"))
    assert chain(got) == ["a"]
    assert got["sizes"] == {"3": {"cold_site_yml": 1.0}}


def test_a_partial_run_is_dropped_and_its_previous_carried_on():
    assert chain(carry_previous(run("partial", complete=False, previous=run("a", previous=run("b"))))) == ["a", "b"]


def test_the_chain_keeps_two_runs_by_default():
    old = run("c", previous=run("b", previous=run("a", previous=run("z"))))
    assert chain(carry_previous(old)) == ["c", "b"]
    assert chain(carry_previous(old, keep=3)) == ["c", "b", "a"]
    assert carry_previous(old, keep=0) is None


def test_the_shipped_results_file_carries_over():
    with open(os.path.join(BENCH, "results", "fleet.json")) as f:
        shipped = json.load(f)
    got = carry_previous(shipped)
    assert got is not None and got["sizes"] == shipped["sizes"]
    assert "previous" in got  # the run before the shipped one stays too
