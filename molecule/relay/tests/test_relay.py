"""Verify of the relay scenario: clients on an edge network reach the federation only through a relay.

The tests run in file order (no route -> job -> kill -9 of the relay -> status). Hosts are checked through
testinfra's podman backend; the job/status modules and status.yml run through Ansible on the control node, as
a user would. The figures go to bench/results/relay-molecule.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import numpy as np
from edgefl_testinfra import (
    ROOT,
    ansible_env,
    collection_module,
    scenario_admin_kit,
    scenario_inventory_args,
    unit_main_pid,
)

JOB = os.path.join(ROOT, "playbooks", "files", "jobs", "numpy_fedavg")
SERVER = "edgefl-r-server1"
RELAY = "edgefl-r-relay1"
CLIENTS = ["edgefl-r-site-1", "edgefl-r-site-2"]
SITE = {SERVER: "server1", RELAY: "relay1", "edgefl-r-site-1": "site-1", "edgefl-r-site-2": "site-2"}
UNIT = {SERVER: "nvflare-server.service", RELAY: "nvflare-relay.service"}
SERVER_ADDRESS = "10.89.60.10"
RELAY_EDGE_ADDRESS = "10.89.61.20"
INITIAL = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
STATE = {}

# connect_ex from inside a host: 0 when the TCP connect succeeds, else the errno (11 = timed out: the host drops
# what the isolated edge network sends to the server's network)
CONNECT = "import socket, sys; s = socket.socket(); s.settimeout(3); print(s.connect_ex((sys.argv[1], int(sys.argv[2]))))"


def unit(name):
    return UNIT.get(name, "nvflare-client.service")


env = ansible_env
inventory_args = scenario_inventory_args
admin_kit = scenario_admin_kit


def module(name, args):
    return collection_module(name, args, inventory_args())


def status():
    return module("status", {"admin_kit": admin_kit(), "expected_clients": [SITE[c] for c in CLIENTS],
                             "fail_unreachable": False})


def connect(host, address, port):
    return int(host.check_output("python3 -c %s %s %s", CONNECT, address, str(port)))


def main_pid(host, name):
    return unit_main_pid(host, unit(name))


def test_services_up_and_enabled(podman_host):
    for name in [SERVER, RELAY] + CLIENTS:
        svc = podman_host(name).service(unit(name))
        assert svc.is_running and svc.is_enabled, name


def test_clients_have_no_route_to_the_server(podman_host):
    # the server listens (the relay reaches it) ...
    assert connect(podman_host(RELAY), SERVER_ADDRESS, 8002) == 0
    for name in CLIENTS:
        host = podman_host(name)
        # ... but no client can open a TCP connection to it, only to the relay
        assert connect(host, SERVER_ADDRESS, 8002) != 0, "%s reaches the server's port 8002" % name
        assert connect(host, RELAY_EDGE_ADDRESS, 8102) == 0, "%s cannot reach the relay" % name


def test_job_completes_with_both_clients(podman_host, tmp_path):
    res = status()
    assert res["reachable"] and res["all_clients_connected"], res
    t0 = time.time()
    job = module("job", {"admin_kit": admin_kit(), "src": JOB, "submit_token": "relay-verify", "dest": str(tmp_path),
                         "timeout": 600})
    STATE["job_seconds"] = round(time.time() - t0, 1)
    assert not job.get("failed"), job.get("msg")
    assert job["status"] == "FINISHED:COMPLETED", job
    with open(os.path.join(JOB, "app", "config", "config_fed_server.json")) as f:
        rounds = json.load(f)["workflows"][0]["args"]["num_rounds"]
    model = np.load(os.path.join(job["result_path"], "workspace", "models", "server.npy"), allow_pickle=True)
    np.testing.assert_allclose(np.asarray(model, dtype=float), INITIAL + rounds)
    # the job (min_clients 2) ran on both clients behind the relay
    for name in CLIENTS:
        assert podman_host(name).file("/var/lib/nvflare/%s/%s" % (SITE[name], job["job_id"])).is_directory, name


def test_kill_relay_systemd_restarts_and_clients_register_again(podman_host):
    relay = podman_host(RELAY)
    old_pid = main_pid(relay, RELAY)
    t0 = time.time()
    relay.run("kill -9 %s", str(old_pid))
    deadline = t0 + 60
    while time.time() < deadline:
        pid = main_pid(relay, RELAY)
        if pid and pid != old_pid and relay.service(unit(RELAY)).is_running:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("systemd did not restart the relay within 60 s")
    restarted = time.time()
    STATE["relay_restart_seconds"] = round(restarted - t0, 1)
    # every client connects to the server again through the new relay process: the server records a
    # connection from it after the restart
    res = None
    while time.time() < restarted + 60:
        res = status()
        seen = {c["name"]: c.get("last_connect_time") or 0 for c in res.get("clients", [])}
        if res.get("all_clients_connected") and all(seen.get(SITE[c], 0) > restarted for c in CLIENTS):
            break
        time.sleep(2)
    else:
        raise AssertionError("clients not registered again within 60 s of the relay's restart: %s" % res)
    STATE["relay_recovery_seconds"] = round(time.time() - t0, 1)
    print("relay kill -9 -> restarted in %.1f s, both clients registered again %.1f s after the kill"
          % (STATE["relay_restart_seconds"], STATE["relay_recovery_seconds"]))


def test_status_shows_each_clients_path():
    t0 = time.time()
    proc = subprocess.run(["ansible-playbook", *inventory_args(), os.path.join(ROOT, "playbooks", "status.yml")],
                          env=env(), capture_output=True, text=True, check=False)
    STATE["status_playbook_seconds"] = round(time.time() - t0, 1)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    for name in CLIENTS:
        line = [ln for ln in lines if ln.strip().lstrip("-' |").startswith(SITE[name] + " ")]
        assert line, "no status line for %s:\n%s" % (name, proc.stdout[-3000:])
        text = line[0]
        assert "%s -> relay1 -> server1" % SITE[name] in text, text
        assert "active" in text and "connected" in text and "NOT" not in text, text
    relay = [ln for ln in lines if ln.strip().lstrip("-' |").startswith("relay1 ")]
    assert relay and "active" in relay[0] and "relay1 -> server1" in relay[0], proc.stdout[-3000:]


def test_report_figures():
    out = os.path.join(ROOT, "bench", "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "relay-molecule.json"), "w") as f:
        json.dump(STATE, f, indent=2)
    print("relay verify figures:", STATE)
