"""Verify of the federation scenario: a real federation deployed by site.yml.

The tests run in file order and build on each other (job -> the no-change fast path -> faults ->
add_client -> stop/start/status); the test_m<NN>_*.py files come next and leave the federation running with every
client connected; test_zz_uninstall.py (uninstall of one host compared with its fresh state, then of the
fleet, then the figures) is last. Hosts are checked through testinfra's podman backend; the job/status
modules and the playbooks run through Ansible on the control node, as a user would (fedlib.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time

from fedlib import (
    CLIENTS, JOB, SERVER, SITE, SPARE, STATE, admin_kit, main_pid, module, playbook, run_job, status, unit,
    workspace,
)


def test_services_up_and_enabled(podman_host):
    for name in [SERVER] + CLIENTS:
        svc = podman_host(name).service(unit(name))
        assert svc.is_running and svc.is_enabled, name
    server = podman_host(SERVER)
    assert server.socket("tcp://0.0.0.0:8002").is_listening or server.socket("tcp://:::8002").is_listening
    assert not podman_host(SPARE).file("/etc/systemd/system/nvflare-client.service").exists


def test_golden_venv_built_once(podman_host):
    """nvflare_venv_golden: the hosts share one platform, Python and venv path, so at most one of them ran pip (the
    builder, when no earlier scenario had left the archive on the control node); every other one unpacked the same
    golden venv, which the control node keeps."""
    names = {}
    for name in [SERVER] + CLIENTS:
        marker = podman_host(name).file("/opt/nvflare/venv/.edgefl-golden")
        names[name] = marker.content_string.strip() if marker.exists else None
    built = [h for h, n in names.items() if n is None]
    assert len(built) <= 1, names
    unpacked = {n for n in names.values() if n}
    assert len(unpacked) == 1, names
    archive = unpacked.pop()
    cache = os.path.expanduser("~/.cache/edgefl-nvflare/wheelhouse")
    assert any(os.path.isfile(os.path.join(cache, key, archive)) for key in os.listdir(cache)), (archive, names)


def test_job_completes_with_expected_model(tmp_path):
    t0 = time.time()
    res = run_job("verify-first", str(tmp_path))
    STATE["job_seconds"] = round(time.time() - t0, 1)
    again = module("job", {"admin_kit": admin_kit(), "src": JOB, "submit_token": "verify-first", "dest": str(tmp_path)})
    assert not again["changed"] and again["job_id"] == res["job_id"]


def _in_sync_line(stdout):
    m = re.search(r"(\d+) of (\d+) hosts are as their last converge left them", stdout)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _said(stdout):
    """The fast path's line: how many hosts skip the roles, and why the others do not."""
    m = re.search(r"\d+ of \d+ hosts are as their last converge", stdout)
    return " ".join(stdout[m.start():].split("TASK [", 1)[0].split()) if m else ""


def _changed(stdout):
    return {h: int(c) for h, c in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", stdout, re.M)}


def _until_in_sync(site_yml, hosts, tries=1):
    """Run site.yml until every host skips the roles, at most `tries` times (one: the first run must). Every run
    must change nothing. -> ([(in sync, why), ...], seconds of the last run)"""
    runs = []
    for _attempt in range(tries):
        proc, seconds = playbook(site_yml)
        runs.append((_in_sync_line(proc.stdout), _said(proc.stdout)))
        assert set(_changed(proc.stdout).values()) == {0}, proc.stdout[-3000:]
        if runs[-1][0] == (hosts, hosts):
            return runs, round(seconds, 1)
    raise AssertionError("site.yml never skipped the roles on every host: %s" % runs)


def test_fast_path_skips_unchanged_hosts_and_repairs_drift(podman_host):
    """The no-change fast path of site.yml (edgefl.nvflare.host_state): every host converged and recorded skips
    the roles; one host whose kit key became world-readable and whose unit was stopped takes the full path alone
    and is repaired; the run after that skips every host again and changes nothing."""
    # before add_client: the spare is no member yet. Molecule's converge and idempotence ran site.yml (the roles
    # on every host: converge.yml turns the fast path off, and Molecule's --skip-tags notest names no deploy tag,
    # so both runs recorded the hosts), and a job ran since: the very first run must skip every host
    everyone = [SERVER] + CLIENTS
    site_yml = os.path.join(os.pardir, "site.yml")
    runs, seconds = _until_in_sync(site_yml, len(everyone))
    STATE["site_yml_fast_path_seconds"] = seconds
    STATE["site_yml_runs_until_in_sync"] = len(runs)

    drifted = "edgefl-f-site-2"
    key = "/var/lib/nvflare/%s/startup/client.key" % SITE[drifted]
    host = podman_host(drifted)
    assert host.file(key).mode == 0o600
    host.run_expect([0], "chmod 0644 %s && systemctl stop %s" % (key, unit(drifted)))
    proc, seconds = playbook(site_yml)
    STATE["site_yml_one_drifted_host_seconds"] = round(seconds, 1)
    assert _in_sync_line(proc.stdout) == (len(everyone) - 1, len(everyone)), proc.stdout[-4000:]
    said = _said(proc.stdout)
    # the line and the PLAY RECAP name inventory hosts (the container names here)
    assert "%s: changed: %s" % (drifted, key) in said and "%s: inactive" % unit(drifted) in said, said
    changed = _changed(proc.stdout)
    assert changed[drifted] > 0 and all(c == 0 for h, c in changed.items() if h != drifted), changed
    assert host.file(key).mode == 0o600 and host.service(unit(drifted)).is_running

    runs, _seconds = _until_in_sync(site_yml, len(everyone))
    STATE["site_yml_runs_until_in_sync_after_repair"] = len(runs)


def test_kill_server_systemd_restarts_and_clients_reregister(podman_host):
    server = podman_host(SERVER)
    before = status([SITE[c] for c in CLIENTS])
    old_pid = main_pid(server, SERVER)
    t0 = time.time()
    server.run("kill -9 %s", str(old_pid))
    deadline = t0 + 60
    while time.time() < deadline:
        pid = main_pid(server, SERVER)
        if pid and pid != old_pid and server.service(unit(SERVER)).is_running:
            break
        time.sleep(1)
    else:
        raise AssertionError("systemd did not restart the server within 60 s")
    while time.time() < deadline:
        res = status([SITE[c] for c in CLIENTS])
        if res.get("reachable") and res["all_clients_connected"] and res["server"]["start_time"] != before["server"]["start_time"]:
            break
        time.sleep(2)
    else:
        raise AssertionError("clients not re-registered within 60 s of kill -9: %s" % res)
    STATE["server_recovery_seconds"] = round(time.time() - t0, 1)


def test_client_container_reboot(podman_host):
    name = "edgefl-f-site-2"
    t0 = time.time()
    subprocess.run(["podman", "restart", "-t", "5", name], check=True, capture_output=True)
    host = podman_host(name)
    deadline = t0 + 120
    while time.time() < deadline:
        if host.run("systemctl is-active %s", unit(name)).stdout.strip() == "active":
            break
        time.sleep(1)
    assert host.service(unit(name)).is_enabled
    while time.time() < deadline:
        res = status([SITE[c] for c in CLIENTS])
        site = [c for c in res.get("clients", []) if c["name"] == "site-2"]
        if site and site[0]["last_connect_time"] and site[0]["last_connect_time"] > t0:
            break
        time.sleep(2)
    else:
        raise AssertionError("site-2 did not re-register after its container restarted")
    STATE["client_reboot_seconds"] = round(time.time() - t0, 1)


def _kit_hashes(host, site):
    out = host.check_output("find /var/lib/nvflare/%s/startup -type f -exec sha256sum {} + | sort", site)
    return out


def test_add_client_keeps_others_untouched(podman_host, tmp_path):
    before = {c: (_kit_hashes(podman_host(c), SITE[c]), main_pid(podman_host(c), c)) for c in CLIENTS}
    kits = os.path.join(workspace(), "edgefl", "kits")
    ctl_before = {c: _dir_hash(os.path.join(kits, SITE[c])) for c in [SERVER] + CLIENTS}
    extra = tmp_path / "add.yml"
    extra.write_text("nvflare_clients:\n  hosts:\n    %s:\n" % SPARE)
    STATE["extra_inventory"] = str(extra)
    # keep the file for the tests that follow
    keep = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "add-client-inventory.yml")
    with open(keep, "w") as f:
        f.write(extra.read_text())
    STATE["extra_inventory"] = keep
    # check mode first, on the fresh device: provisioning writes no kit for it, so its service role has nothing to
    # compare (it failed on the missing kit); nothing changes, on the device or on the control node
    playbook("add_client.yml", "--check", "-e", "nvflare_add_clients=" + SPARE)
    assert not os.path.lexists(os.path.join(kits, SITE[SPARE]))
    assert not podman_host(SPARE).file("/var/lib/nvflare/%s" % SITE[SPARE]).exists
    add_proc, seconds = playbook("add_client.yml", "-e", "nvflare_add_clients=" + SPARE)
    STATE["add_client_seconds"] = round(seconds, 1)
    assert "failed=0" in add_proc.stdout
    for c in CLIENTS:
        assert _kit_hashes(podman_host(c), SITE[c]) == before[c][0], "%s kit changed" % c
        assert main_pid(podman_host(c), c) == before[c][1], "%s was restarted" % c
    for c in [SERVER] + CLIENTS:
        assert _dir_hash(os.path.join(kits, SITE[c])) == ctl_before[c], "control-node kit of %s changed" % c
    res = status([SITE[c] for c in CLIENTS + [SPARE]])
    assert res["all_clients_connected"], res
    assert podman_host(SPARE).service(unit(SPARE)).is_running


def _dir_hash(path):
    digest = hashlib.sha256()
    for base, _dirs, files in sorted(os.walk(os.path.realpath(path))):
        for f in sorted(files):
            with open(os.path.join(base, f), "rb") as fh:
                digest.update(f.encode() + fh.read())
    return digest.hexdigest()


def test_stop_start_status_playbooks(podman_host):
    everyone = [SERVER] + CLIENTS + [SPARE]
    playbook("stop.yml")
    for name in everyone:
        svc = podman_host(name).service(unit(name))
        assert not svc.is_running and svc.is_enabled, name
    down = status()
    assert down["reachable"] is False
    start_proc, start_seconds = playbook("start.yml")
    STATE["start_playbook_seconds"] = round(start_seconds, 1)
    assert "failed=0" in start_proc.stdout
    for name in everyone:
        assert podman_host(name).service(unit(name)).is_running, name
    proc, status_seconds = playbook("status.yml")
    STATE["status_playbook_seconds"] = round(status_seconds, 1)
    for name in everyone:
        line = [ln for ln in proc.stdout.splitlines() if ln.strip().lstrip("-' |").startswith(SITE[name] + " ")]
        assert line, "no status line for %s:\n%s" % (name, proc.stdout[-3000:])
        assert "active" in line[0] and ("connected" in line[0] and "NOT" not in line[0] or name == SERVER), line[0]
