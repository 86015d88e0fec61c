"""Shared helpers and state of the federation scenario's verify (tests run in file-name order:
test_federation.py, then test_m<NN>_<topic>.py files, then test_zz_uninstall.py last)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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

os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
JOB = os.path.join(ROOT, "playbooks", "files", "jobs", "numpy_fedavg")
SERVER = "edgefl-f-server1"
CLIENTS = ["edgefl-f-site-1", "edgefl-f-site-2", "edgefl-f-site-3"]
SPARE = "edgefl-f-site-4"
SITE = {SERVER: "server1", "edgefl-f-site-1": "site-1", "edgefl-f-site-2": "site-2", "edgefl-f-site-3": "site-3", SPARE: "site-4"}
UNIT = {SERVER: "nvflare-server.service"}
INITIAL = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
STATE = {}


def unit(name):
    return UNIT.get(name, "nvflare-client.service")


def inventory_args():
    return scenario_inventory_args(*([STATE["extra_inventory"]] if STATE.get("extra_inventory") else []))


env = ansible_env


def workspace():
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "workspace")


def admin_kit():
    return scenario_admin_kit()


def playbook(name, *extra, check=True):
    t0 = time.time()
    proc = subprocess.run(
        ["ansible-playbook", *inventory_args(), os.path.join(ROOT, "playbooks", name), *extra],
        env=env(), capture_output=True, text=True, check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc, time.time() - t0


def module(name, args):
    """Run an edgefl.nvflare module on the control node through Ansible; return its result."""
    return collection_module(name, args, inventory_args())


def status(expected=None):
    return module("status", {"admin_kit": admin_kit(), "expected_clients": expected or [], "fail_unreachable": False})


def drop_client(name):
    """Make the server forget a connected client now (NVFLARE's remove_client admin command), as its heartbeat
    timeout would after a while for a device that went offline; a running client registers again."""
    code = ("import contextlib, io, sys\n"
            "from nvflare.fuel.flare_api.flare_api import new_secure_session\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    s = new_secure_session(sys.argv[1], sys.argv[2], timeout=30)\n"
            "    s.remove_client(sys.argv[3])\n"
            "    s.close()\n")
    subprocess.run([sys.executable, "-c", code, "admin@nvidia.com", admin_kit(), name], check=True,
                   capture_output=True, env=env())


def wait_all_connected(names, timeout):
    t0 = time.time()
    res = None
    while time.time() - t0 < timeout:
        res = status(names)
        if res.get("all_clients_connected"):
            return res, time.time() - t0
        time.sleep(2)
    raise AssertionError("clients %s not all connected after %ss: %s" % (names, timeout, res))


def main_pid(host, name):
    return unit_main_pid(host, unit(name))


def expected_model():
    with open(os.path.join(JOB, "app", "config", "config_fed_server.json")) as f:
        rounds = json.load(f)["workflows"][0]["args"]["num_rounds"]
    return INITIAL + rounds


def run_job(token, dest):
    res = module("job", {"admin_kit": admin_kit(), "src": JOB, "submit_token": token, "dest": dest, "timeout": 600})
    assert not res.get("failed"), res.get("msg")
    assert res["status"] == "FINISHED:COMPLETED"
    model = np.load(os.path.join(res["result_path"], "workspace", "models", "server.npy"), allow_pickle=True)
    np.testing.assert_allclose(np.asarray(model, dtype=float), expected_model())
    return res


def kill_tree(pid):
    """Stop, then kill, a process and every process below it. ansible-playbook's workers call setsid, so a kill of
    its process group would leave them to finish their task: this kills the whole run, as a power cut would."""
    def children(parent):
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry, encoding="utf-8") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == parent:
                            found.append(int(entry))
                except (OSError, IndexError, ValueError):
                    pass
        return found
    todo, frozen = [pid], []
    while todo:
        p = todo.pop()
        try:
            os.kill(p, signal.SIGSTOP)  # no new children from here on
        except OSError:
            continue
        frozen.append(p)
        todo.extend(children(p))
    for p in frozen:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    return frozen


def run_killed(name, at, *extra, delay=2.0):
    """ansible-playbook playbooks/NAME, killed with all its processes (kill_tree, as a power cut would) DELAY seconds
    after a line of its output matches the compiled regex AT; its output up to then. Fails when it never got there."""
    proc = subprocess.Popen(["ansible-playbook", *inventory_args(), os.path.join(ROOT, "playbooks", name), *extra],
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, killed = [], []
    try:
        for line in proc.stdout:
            seen.append(line)
            if at.match(line):
                time.sleep(delay)
                killed = kill_tree(proc.pid)
                break
    finally:
        if not killed:
            kill_tree(proc.pid)
        proc.stdout.close()
        proc.wait(timeout=60)
    assert killed and proc.returncode == -signal.SIGKILL, "never reached %s:\n%s" % (at.pattern, "".join(seen[-60:]))
    return "".join(seen)
