"""Federation verify, runs at once (playbooks/run_lock.yml, edgefl.nvflare.run_lock): two operators who start a
deploy of the same federation at the same time take turns instead of converging the same hosts together, and a job
submitted meanwhile waits for the deploy that holds the lock. The second deploy waits for the first, then finds
nothing to do; no service restarts; the job completes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

from fedlib import CLIENTS, ROOT, SERVER, SPARE, env, inventory_args, main_pid, workspace


def _start(*extra):
    return subprocess.Popen(["ansible-playbook", *inventory_args(), os.path.join(ROOT, "playbooks", "deploy.yml"),
                             *extra], env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _recap(stdout):
    return dict(re.findall(r"^(\S+)\s+: (ok=.*)$", stdout, re.M))


def test_two_deploys_and_a_job_submitted_at_once_take_turns(podman_host):
    """Two deploys started 3 s apart, and submit_job.yml started with the second: the second deploy waits for the
    first, then finds nothing to do; submit_job.yml holds the run lock only while it submits, so it submits once the
    deploy that holds the lock has ended (no restart can cut the job short), and the job runs to completion. No
    service restarts, and the lock names no holder once all three ended."""
    hosts = [SERVER] + CLIENTS + [SPARE]
    pids = {h: main_pid(podman_host(h), h) for h in hosts}
    first = _start()
    time.sleep(3)  # the first holds the lock by now: it is its first task
    second = _start("-v")  # -v prints the lock task's result (how long it waited)
    submit_env = dict(env(), ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    submit = subprocess.Popen(["ansible-playbook", *inventory_args(), os.path.join(ROOT, "playbooks", "submit_job.yml"),
                               "-v", "-e", "nvflare_submit_token=m47-during-deploy", "-e", "nvflare_submit_timeout=600"],
                              env=submit_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out_first, out_second = first.communicate(timeout=900)[0], second.communicate(timeout=900)[0]
    out_submit = submit.communicate(timeout=900)[0]
    assert first.returncode == 0, out_first[-4000:]
    assert second.returncode == 0, out_second[-4000:]
    assert submit.returncode == 0, out_submit[-4000:]
    waited = re.search(r"^\s+waited: ([\d.]+)$", out_second, re.M)
    assert waited and float(waited.group(1)) >= 1, out_second[:4000]  # it waited for the first run to end
    for out in (out_first, out_second):
        recap = _recap(out)
        for host in hosts:
            assert host in recap and "changed=0" in recap[host] and "failed=0" in recap[host], (host, recap.get(host))
    flat = " ".join(out_submit.split())  # the result is indented over lines
    assert '"run_lock": {' in flat, out_submit[-4000:]
    got = json.JSONDecoder().raw_decode(flat, flat.index('"run_lock": {') + len('"run_lock": '))[0]
    assert got["acquired"] and got["waited"] >= 1, got  # it waited for a deploy
    assert "FINISHED:COMPLETED" in out_submit, out_submit[-4000:]
    assert {h: main_pid(podman_host(h), h) for h in hosts} == pids  # nothing restarted
    # let go once all ended (the watcher looks twice a second): the file names no holder
    lock = os.path.join(workspace(), ".edgefl-run-edgefl.lock")
    deadline = time.time() + 10
    while os.path.getsize(lock) and time.time() < deadline:
        time.sleep(0.2)
    assert os.path.getsize(lock) == 0, open(lock).read()
