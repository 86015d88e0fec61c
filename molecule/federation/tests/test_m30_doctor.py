"""Doctor (playbooks/doctor.yml) on the running federation: healthy, then one breakage at a time, each reported
in its own cell with a non-zero exit, each undone (the federation is left as found: every client connected).
Also the clock pre-check of deploy.yml. Breakages: a client that cannot reach the server's port (an iptables
reject rule for new connections on the client), a kit file removed (NVFLARE's preflight), free disk below the
threshold (-e nvflare_doctor_min_free_mb), a clock offset (the probe's test-only nvflare_doctor_test_clock_offset:
a container's clock cannot be set)."""

from __future__ import annotations

import os
import re
import subprocess
import time

from fedlib import CLIENTS, ROOT, SERVER, SITE, SPARE, STATE, env, inventory_args, wait_all_connected

HOSTS = [SERVER] + CLIENTS + [SPARE]
CHECKS = ("preflight", "connect", "clock", "disk", "swap", "throttle")
REJECT = ["OUTPUT", "-p", "tcp", "--dport", "8002", "--syn", "-j", "REJECT", "--reject-with", "tcp-reset"]


def doctor(*extra, name="doctor.yml"):
    """Run the playbook; return (rc, {site: {check: cell}}, number of tables, output)."""
    e = env()  # the default (YAML) result format: the table as a person sees it
    t0 = time.time()
    proc = subprocess.run(["ansible-playbook", *inventory_args(), os.path.join(ROOT, "playbooks", name), *extra],
                          env=e, capture_output=True, text=True, check=False)
    STATE.setdefault("doctor_seconds", []).append(round(time.time() - t0, 1))
    rows, tables, header = {}, 0, None
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|")):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == "SITE":
            tables += 1
            header = [c.lower() for c in cells]
        elif header:
            rows[cells[0]] = dict(zip(header, cells))
    return proc.returncode, rows, tables, proc.stdout + proc.stderr


def podman(name, *cmd):
    return subprocess.run(["podman", "exec", name, *cmd], capture_output=True, text=True, check=True).stdout


def assert_healthy(rc, rows, tables, out):
    assert rc == 0 and tables == 1, out[-4000:]
    assert sorted(rows) == sorted(SITE[h] for h in HOSTS), out[-4000:]
    for site, row in rows.items():
        assert not [c for c in CHECKS if row[c].startswith("FAIL")], (site, row)
        assert row["preflight"] == "ok" and row["connect"] == "ok", (site, row)


def test_doctor_healthy_federation_passes():
    rc, rows, tables, out = doctor("--check")  # read-only: check mode gives the same table
    assert_healthy(rc, rows, tables, out)
    assert "changed=0" in out and "changed=1" not in out
    # Jetson stand-in site-3 is read as a Jetson (the throttle cell is not n/a), the others are not
    assert rows["site-1"]["throttle"] == "n/a" and rows["site-3"]["throttle"] != "n/a", rows


def test_doctor_reports_low_disk_and_clock_offset():
    rc, rows, tables, out = doctor("-e", "nvflare_doctor_min_free_mb=100000000")
    assert rc != 0 and tables == 1, out[-3000:]
    assert all(r["disk"].startswith("FAIL ") and "< 100000000" in r["disk"] for r in rows.values()), rows
    assert "FAIL site-1 disk: /var/lib/nvflare/site-1:" in out
    rc, rows, tables, out = doctor("-e", "nvflare_doctor_test_clock_offset=-3600")
    assert rc != 0 and tables == 1, out[-3000:]
    # -3600 s, give or take the second or two the probe takes to reach the host
    assert all(re.fullmatch(r"FAIL 3[56]\d\d(\.\d)? s behind", r["clock"]) for r in rows.values()), rows
    assert "sync it with NTP" in out


def test_deploy_stops_on_clock_skew_before_changing_anything():
    e = env()
    e.update(ANSIBLE_CALLBACK_RESULT_FORMAT="json")  # the message on one line
    t0 = time.time()
    proc = subprocess.run(["ansible-playbook", *inventory_args(), os.path.join(ROOT, "playbooks", "deploy.yml"),
                           "-e", "nvflare_doctor_test_clock_offset=-3600"],
                          env=e, capture_output=True, text=True, check=False)
    STATE["deploy_clock_stop_seconds"] = round(time.time() - t0, 1)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert re.search(r"edgefl-f-site-1: clock 3[56]\d\d(\.\d)? s behind the control node \(max 60 s\)", out), out[-3000:]
    assert "timedatectl set-ntp true" in out
    recap = [ln for ln in proc.stdout.splitlines() if ln.startswith("edgefl-f-")]
    assert len(recap) == len(HOSTS) and all("changed=0" in ln and "failed=1" in ln for ln in recap), recap


def test_doctor_reports_unreachable_port_and_broken_kit():
    client, kit_host = CLIENTS[0], CLIENTS[1]
    key = "/var/lib/nvflare/%s/startup/client.key" % SITE[kit_host]
    podman(client, "iptables", "-I", *REJECT)
    podman(kit_host, "mv", key, "/root/doctor-client.key")
    try:
        rc, rows, tables, out = doctor()
    finally:
        podman(client, "iptables", "-D", *REJECT)
        podman(kit_host, "mv", "/root/doctor-client.key", key)
    assert rc != 0 and tables == 1, out[-3000:]
    site, kit_site = SITE[client], SITE[kit_host]
    assert rows[site]["connect"].startswith("FAIL server1:8002"), rows[site]
    assert rows[site]["preflight"].startswith("FAIL"), rows[site]
    assert rows[kit_site]["preflight"] == "FAIL client.key missing or unreadable", rows[kit_site]
    assert rows[kit_site]["connect"] == "ok"
    # nobody else is affected
    for other in set(rows) - {site, kit_site}:
        assert not [c for c in CHECKS if rows[other][c].startswith("FAIL")], rows[other]
    # undone: the federation is as it was
    wait_all_connected([SITE[h] for h in CLIENTS + [SPARE]], 120)
    assert_healthy(*doctor())
