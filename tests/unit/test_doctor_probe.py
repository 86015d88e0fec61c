# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/files/doctor_probe.py, run as doctor.yml runs it (`python - '<json>'`, source on stdin), against
real NVFLARE kits (a local federation, NVFLARE's own provisioning) and fake /proc and /sys files."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from flare_local_federation import free_port, get_federation, provision

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE = os.path.join(ROOT, "playbooks", "files", "doctor_probe.py")


def run_probe(args):
    with open(PROBE) as f:
        source = f.read()
    proc = subprocess.run([sys.executable, "-", json.dumps(args)], input=source, capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def federation(tmp_path_factory, pytestconfig):
    return get_federation(str(tmp_path_factory.getbasetemp() / "federation"), pytestconfig)


def base_args(tmp_path, kit, role, **kw):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        7999999 kB\nSwapTotal:       4194300 kB\nSwapFree:        1048576 kB\n")
    args = {"role": role, "kit": kit, "parent": None, "connect": [], "disk_paths": [str(tmp_path)],
            "meminfo_file": str(meminfo), "jetson_release_file": str(tmp_path / "no-such-release"),
            "controller_epoch": 1000.5, "clock_offset": 0, "connect_timeout": 2}
    args.update(kw)
    return args


def test_running_client_passes_nvflare_preflight_rules_and_is_not_touched(federation, tmp_path):
    pid = federation.procs["site-1"].pid
    parent = {"role": "server", "site_name": "localhost", "address": "localhost", "port": federation.fed_port}
    t0 = time.time()
    out = run_probe(base_args(tmp_path, federation.kit("site-1"), "client", parent=parent,
                              connect=[{"name": "localhost", "address": "localhost", "port": federation.fed_port}]))
    assert out["preflight"] == {"status": "ok", "detail": "NVFLARE preflight rules passed"}
    assert out["connect"] == [{"target": "localhost:%d" % federation.fed_port, "name": "localhost", "ok": True,
                               "error": ""}]
    assert t0 - 1 <= out["epoch"] <= time.time() and out["controller_epoch"] == 1000.5
    # no dry run: the running client is still the same process (NVFLARE's own cleanup would pkill -9 it)
    assert federation.procs["site-1"].poll() is None and federation.procs["site-1"].pid == pid


def test_running_server_passes_without_the_port_binding_rules(federation, tmp_path):
    out = run_probe(base_args(tmp_path, federation.kit("localhost"), "server",
                              connect=[{"name": "fed_learn", "address": "localhost", "port": federation.fed_port},
                                       {"name": "admin", "address": "localhost", "port": federation.admin_port}]))
    assert out["preflight"]["status"] == "ok", out["preflight"]
    assert [c["ok"] for c in out["connect"]] == [True, True]
    assert federation.procs["localhost"].poll() is None


def test_client_behind_a_relay_is_checked_against_the_relay(federation, tmp_path):
    # NVFLARE's connectivity function with the kit's scheme and certificates, aimed at the parent relay's
    # endpoint (its site name and port); the running server's port stands in for a relay that answers
    kit = federation.kit("site-2")
    up = {"role": "relay", "site_name": "localhost", "address": None, "port": federation.fed_port}
    out = run_probe(base_args(tmp_path, kit, "client", parent=up))
    assert out["preflight"] == {"status": "ok", "detail": "relay localhost:%d answers" % federation.fed_port}
    down = dict(up, port=free_port())
    out = run_probe(base_args(tmp_path, kit, "client", parent=down))
    assert out["preflight"] == {"status": "FAIL", "detail": "cannot connect to http relay (localhost:%d)" % down["port"]}


def test_kit_with_a_missing_key_fails(federation, tmp_path):
    kit = str(tmp_path / "site-2")
    shutil.copytree(federation.kit("site-2"), kit)
    os.remove(os.path.join(kit, "startup", "client.key"))
    with open(os.path.join(kit, "startup", "fed_client.json"), "a") as f:
        f.write("garbage")
    out = run_probe(base_args(tmp_path, kit, "client"))
    assert out["preflight"]["status"] == "FAIL"
    assert "client.key missing or unreadable" in out["preflight"]["detail"]
    assert "fed_client.json is not JSON" in out["preflight"]["detail"]


def test_no_kit_at_all_fails(tmp_path):
    out = run_probe(base_args(tmp_path, str(tmp_path / "nothing"), "client"))
    assert out["preflight"] == {"status": "FAIL", "detail": "no kit at %s" % (tmp_path / "nothing" / "startup")}


def test_nvflare_rule_fails_when_the_server_does_not_answer(tmp_path):
    # a real kit whose server was never started: NVFLARE's own "Check server available" rule fails
    prod = provision(str(tmp_path / "ws"), free_port(), free_port())
    out = run_probe(base_args(tmp_path, os.path.join(prod, "site-1"), "client",
                              parent={"role": "server", "site_name": "localhost", "address": "localhost", "port": 1}))
    assert out["preflight"]["status"] == "FAIL"
    assert re.search(r"Check server available: Can't connect to \w+ server \(localhost:\d+\)", out["preflight"]["detail"])


def test_connect_reports_a_closed_port_and_a_refusing_host(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        open_port = listener.getsockname()[1]
        closed = free_port()
        out = run_probe(base_args(tmp_path, str(tmp_path), "relay",
                                  connect=[{"name": "relay-1", "address": "127.0.0.1", "port": open_port},
                                           {"name": "server1", "address": "127.0.0.1", "port": closed}]))
    assert out["connect"][0]["ok"] is True
    assert out["connect"][1]["ok"] is False and "refused" in out["connect"][1]["error"].lower()


def test_disk_swap_clock_offset_and_non_jetson(tmp_path):
    missing = str(tmp_path / "storage" / "not-yet")
    out = run_probe(base_args(tmp_path, str(tmp_path), "client", disk_paths=[str(tmp_path), missing],
                              clock_offset=-3600))
    st = os.statvfs(str(tmp_path))
    assert out["disk"][0]["path"] == str(tmp_path)
    assert abs(out["disk"][0]["free_mb"] - st.f_bavail * st.f_frsize // 2**20) < 64
    # a path that does not exist yet is measured where it would be made
    assert out["disk"][1] == dict(out["disk"][1], path=missing, checked=str(tmp_path))
    assert out["swap"] == {"total_mb": 4095, "free_mb": 1024}
    assert out["jetson"] is False and out["thermal"] == []
    assert out["epoch"] < time.time() - 3500


def _zone(root, n, kind, temp, trips):
    zone = root / "sys" / "class" / "thermal" / ("thermal_zone%d" % n)
    zone.mkdir(parents=True)
    (zone / "type").write_text(kind + "\n")
    (zone / "temp").write_text("%d\n" % temp)
    for i, (ttype, ttemp) in enumerate(trips):
        (zone / ("trip_point_%d_type" % i)).write_text(ttype + "\n")
        (zone / ("trip_point_%d_temp" % i)).write_text("%d\n" % ttemp)


def test_jetson_thermal_zones(tmp_path):
    release = tmp_path / "nv_tegra_release"
    release.write_text("# R36 (release), REVISION: 4.0\n")
    _zone(tmp_path, 0, "cpu-thermal", 97500, [("critical", 105000), ("passive", 99000), ("hot", 97000)])
    _zone(tmp_path, 1, "gpu-thermal", 45000, [("critical", 105000)])
    _zone(tmp_path, 2, "broken", 0, [])
    (tmp_path / "sys" / "class" / "thermal" / "thermal_zone2" / "temp").write_text("n/a\n")
    out = run_probe(base_args(tmp_path, str(tmp_path), "client", jetson_release_file=str(release),
                              sys_root=str(tmp_path)))
    assert out["jetson"] is True
    assert out["thermal"] == [{"zone": "cpu-thermal", "temp_c": 97.5, "trip_c": 97.0},
                              {"zone": "gpu-thermal", "temp_c": 45.0, "trip_c": None}]
