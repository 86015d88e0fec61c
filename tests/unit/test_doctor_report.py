# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.doctor_report: the doctor's verdict per host and check, from real-shaped probe results
(the JSON of playbooks/files/doctor_probe.py inside a registered command result)."""

from __future__ import annotations

import copy
import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.doctor_report import FilterModule

doctor_report = FilterModule().filters()["doctor_report"]
NOW = 1796150000.0

HEALTHY_CLIENT = {
    "epoch": NOW + 0.3, "controller_epoch": NOW,
    "preflight": {"status": "ok", "detail": "NVFLARE preflight rules passed"},
    "connect": [{"target": "server1:8002", "name": "server1", "ok": True, "error": ""}],
    "disk": [{"path": "/var/lib/nvflare/site-1", "checked": "/var/lib/nvflare/site-1", "free_mb": 20480},
             {"path": "/var/lib/nvflare/storage", "checked": "/var/lib/nvflare", "free_mb": 20480}],
    "swap": {"total_mb": 0, "free_mb": 0}, "jetson": False, "thermal": [],
}


def result(data, **kw):
    res = {"changed": False, "rc": 0, "stdout": json.dumps(data), "stderr": "", "cmd": ["python", "-", "{}"]}
    res.update(kw)
    return res


def client(data=None, name="site-1", **kw):
    return {"site_name": name, "role": "client", "result": result(data or HEALTHY_CLIENT, **kw)}


def changed(**changes):
    data = copy.deepcopy(HEALTHY_CLIENT)
    data.update(changes)
    return data


def test_healthy_hosts_are_ok_everywhere():
    server = changed(connect=[{"target": "localhost:8002", "name": "fed_learn", "ok": True, "error": ""},
                              {"target": "localhost:8003", "name": "admin", "ok": True, "error": ""}])
    rep = doctor_report([{"site_name": "server1", "role": "server", "result": result(server)}, client()])
    assert rep["failed"] is False and rep["problems"] == []
    assert rep["rows"][1] == {"site": "site-1", "role": "client", "preflight": "ok", "connect": "ok",
                              "clock": "ok +0.3 s", "disk": "ok 20480 MB free", "swap": "ok none", "throttle": "n/a"}
    assert rep["counts"] == {"ok": 10, "WARN": 0, "FAIL": 0}


@pytest.mark.parametrize("data, check, cell, problem", [
    (changed(connect=[{"target": "server1:8002", "name": "server1", "ok": False, "error": "timed out"}]),
     "connect", "FAIL server1:8002 timed out", "FAIL site-1 connect: server1 server1:8002: timed out"),
    (changed(preflight={"status": "FAIL", "detail": "client.key missing or unreadable"}),
     "preflight", "FAIL client.key missing or unreadable", "FAIL site-1 preflight: client.key missing or unreadable"),
    (changed(epoch=NOW - 3600),
     "clock", "FAIL 3600 s behind",
     "FAIL site-1 clock: clock 3600 s behind the control node (max 60 s); sync it with NTP (systemd-timesyncd or chrony)"),
    (changed(disk=[{"path": "/var/lib/nvflare/storage", "checked": "/var/lib/nvflare", "free_mb": 900}]),
     "disk", "FAIL 900 MB free < 1024",
     "FAIL site-1 disk: /var/lib/nvflare/storage: 900 MB free < 1024"),
])
def test_each_breakage_fails_in_its_own_cell(data, check, cell, problem):
    rep = doctor_report([client(data), client(name="site-2")])
    assert rep["failed"] is True
    assert rep["rows"][0][check] == cell
    assert rep["problems"] == [problem]
    assert all(v in ("ok", "n/a", "ok none") or v.startswith("ok ") for k, v in rep["rows"][1].items()
               if k not in ("site", "role"))
    assert rep["counts"]["FAIL"] == 1


def test_thresholds_come_from_the_options():
    rep = doctor_report([client()], min_free_mb=10 ** 9, max_clock_skew=0.1)
    assert rep["rows"][0]["disk"] == "FAIL 20480 MB free < 1000000000"
    assert rep["rows"][0]["clock"] == "FAIL 0.3 s ahead"
    assert rep["problems"][0] == ("FAIL site-1 clock: clock 0.3 s ahead of the control node (max 0.1 s); "
                                  "sync it with NTP (systemd-timesyncd or chrony)")
    assert rep["problems"][1] == ("FAIL site-1 disk: /var/lib/nvflare/site-1: 20480 MB free < 1000000000; "
                                  "/var/lib/nvflare/storage: 20480 MB free < 1000000000")
    assert rep["counts"]["FAIL"] == 2
    # 0 turns the clock check off
    assert doctor_report([client(changed(epoch=NOW + 10 ** 6))], max_clock_skew=0)["failed"] is False


@pytest.mark.parametrize("data, swap, throttle, failed", [
    (changed(jetson=True, swap={"total_mb": 0, "free_mb": 0},
             thermal=[{"zone": "cpu-thermal", "temp_c": 50.0, "trip_c": 97.0}]),
     "WARN no swap", "ok max 50 C", False),
    (changed(jetson=True, swap={"total_mb": 4096, "free_mb": 100},
             thermal=[{"zone": "cpu-thermal", "temp_c": 97.5, "trip_c": 97.0},
                      {"zone": "gpu-thermal", "temp_c": 45.0, "trip_c": None}]),
     "WARN 97% used", "WARN cpu-thermal 98 C", False),
    (changed(jetson=True, swap={"total_mb": 4096, "free_mb": 4000}, thermal=[]),
     "ok 2% of 4096 MB used", "n/a no thermal zones", False),
    (changed(swap={"total_mb": None, "free_mb": None}), "n/a", "n/a", False),
])
def test_swap_and_throttling_warn_but_do_not_fail(data, swap, throttle, failed):
    rep = doctor_report([client(data)])
    assert (rep["rows"][0]["swap"], rep["rows"][0]["throttle"], rep["failed"]) == (swap, throttle, failed)


@pytest.mark.parametrize("res, reason", [
    ({"unreachable": True, "msg": "Failed to connect to the host via ssh: timed out\nmore", "changed": False},
     "FAIL host unreachable: Failed to connect to the host via ssh: timed out"),
    ({"rc": 127, "stdout": "", "stderr": "sudo: /opt/nvflare/venv/bin/python: command not found", "failed": False},
     "FAIL probe failed: sudo: /opt/nvflare/venv/bin/python: command not found"),
    ({"rc": 1, "stdout": "", "stderr": "Traceback...\nValueError: bad json"}, "FAIL probe failed: ValueError: bad json"),
    ({"skipped": True}, "FAIL probe skipped"),
    (None, "FAIL no probe result"),
    ({"rc": 0, "stdout": "Warning: NumPy ABI mismatch\n{", "stderr": ""},
     "FAIL probe failed: printed no JSON: Warning: NumPy ABI mismatch"),
    ({"rc": 0, "stdout": "", "stderr": ""}, "FAIL probe failed: no output"),
])
def test_a_host_that_did_not_answer_fails(res, reason):
    rep = doctor_report([{"site_name": "site-3", "role": "client", "result": res}])
    assert rep["failed"] is True
    cell = rep["rows"][0]["preflight"]
    assert cell == (reason if len(reason) <= 40 else reason[:37] + "..."), cell
    assert rep["rows"][0]["connect"] == "-"
    # the whole reason is in the problem lines
    assert rep["problems"] == ["FAIL site-3 preflight: " + reason[len("FAIL "):]]


def test_connect_errors_are_short_in_the_cell_and_whole_in_the_problems():
    bad = [{"target": "server1:8002", "name": "server1", "ok": False, "error": "[Errno 111] Connection refused"},
           {"target": "relay-1:8102", "name": "relay-1", "ok": False, "error": "[Errno -2] Name or service not known"}]
    rep = doctor_report([client(changed(connect=bad))])
    assert rep["rows"][0]["connect"] == "FAIL server1:8002 refused"
    assert rep["problems"] == ["FAIL site-1 connect: server1 server1:8002: [Errno 111] Connection refused; "
                               "relay-1 relay-1:8102: [Errno -2] Name or service not known"]


def test_no_clock_reading_warns():
    rep = doctor_report([client(changed(controller_epoch=None))])
    assert rep["rows"][0]["clock"] == "WARN no clock reading" and rep["failed"] is False


def test_bad_input():
    with pytest.raises(AnsibleFilterError, match="list"):
        doctor_report({"site-1": {}})
    with pytest.raises(AnsibleFilterError, match="integers"):
        doctor_report([], min_free_mb="lots")
