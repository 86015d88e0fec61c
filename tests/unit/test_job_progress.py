# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Through Ansible (the action plugins), against a real local NVFLARE federation (server + 2 clients):
a meta.conf job from `nvflare job create` completes with progress lines on the default callback, so does a job
exported by NVFLARE's job API (an app per site), and the client wait with a quorum names the missing client, or
fails below the quorum."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from flare_local_federation import CLIENTS, get_federation
from test_job_folder import EXAMPLE_JOB, NVFLARE, convert

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")


@pytest.fixture(scope="module")
def fed(tmp_path_factory, pytestconfig):
    return get_federation(str(tmp_path_factory.getbasetemp() / "federation"), pytestconfig)


def adhoc(module, args, tmp_path, *extra):
    """Run edgefl.nvflare.<module> with `ansible localhost -v` and the default callback; return the process."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
    )
    return subprocess.run(
        [ANSIBLE, "localhost", "-v", "-e", "ansible_python_interpreter=" + sys.executable, "-m", "edgefl.nvflare." + module, "-a", json.dumps(args), *extra],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, check=False,
    )


def created_job(tmp_path):
    tpl = tmp_path / "tpl"
    convert(str(tpl / "x"), ".conf")  # the example as .conf files
    for name in ("config_fed_client", "config_fed_server"):
        os.rename(str(tpl / "x" / "app" / "config" / (name + ".conf")), str(tpl / (name + ".conf")))
    os.rename(str(tpl / "x" / "meta.conf"), str(tpl / "meta.conf"))
    (tpl / "info.conf").write_text('description = "numpy fedavg"\nclient_category = "client_api"\ncontroller_type = "server"\n')
    import shutil

    shutil.rmtree(str(tpl / "x"))
    job = tmp_path / "np_conf"
    proc = subprocess.run(
        [NVFLARE, "job", "create", "-j", str(job), "-w", str(tpl), "-sd", os.path.join(EXAMPLE_JOB, "app", "custom"), "-force"],
        capture_output=True, text=True, env=dict(os.environ, HOME=str(tmp_path)), check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (job / "meta.conf").is_file() and (job / "app" / "config" / "config_fed_server.conf").is_file()
    return str(job)


def test_meta_conf_job_completes_with_progress_lines(fed, tmp_path):
    src = created_job(tmp_path)
    proc = adhoc("job", {"admin_kit": fed.admin_kit, "src": src, "timeout": 180, "dest": str(tmp_path / "res")}, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = re.findall(r"^\[localhost\] job (\S+): (\S+), \d+s/180s(?:, round \d+ started)?$", proc.stdout, re.M)
    assert lines, proc.stdout
    job_id = lines[0][0]
    assert lines[0][1] in ("SUBMITTED", "DISPATCHED", "RUNNING")
    assert "[localhost] job %s: FINISHED:COMPLETED" % job_id in proc.stdout, proc.stdout
    assert '"status": "FINISHED:COMPLETED"' in proc.stdout and '"submitted": true' in proc.stdout
    model = tmp_path / "res" / job_id / "workspace" / "models" / "server.npy"
    assert model.is_file()
    # the same folder again: the token finds the job, nothing is submitted
    again = adhoc("job", {"admin_kit": fed.admin_kit, "src": src, "timeout": 60}, tmp_path)
    assert again.returncode == 0 and '"submitted": false' in again.stdout and job_id in again.stdout, again.stdout


def exported_job(tmp_path):
    """A job written by NVFLARE's own job API (FedJob.export_job, what NVFLARE's recipes and examples use): one app
    per site (app_server, app_site-1, app_site-2), the client script copied into each client app, meta.json naming
    each app's site. Exported as its only sub-folder, as export_job does."""
    from nvflare.app_common.np.np_model_persistor import NPModelPersistor
    from nvflare.app_common.workflows.fedavg import FedAvg
    from nvflare.job_config.api import FedJob
    from nvflare.job_config.script_runner import FrameworkType, ScriptRunner

    job = FedJob(name="np_fedjob", min_clients=len(CLIENTS))
    job.to_server(FedAvg(num_clients=len(CLIENTS), num_rounds=2), id="controller")
    job.to_server(NPModelPersistor(model=[[1.0, 2.0], [3.0, 4.0]]), id="persistor")
    here = os.getcwd()
    os.chdir(os.path.join(EXAMPLE_JOB, "app", "custom"))  # the script is named relative to the app, as in the examples
    try:
        for site in CLIENTS:
            job.to(ScriptRunner(script="numpy_fedavg_client.py", framework=FrameworkType.NUMPY), site)
        job.export_job(str(tmp_path / "export"))
    finally:
        os.chdir(here)
    return tmp_path / "export"


def test_a_job_exported_by_nvflares_job_api_completes(fed, tmp_path):
    export = exported_job(tmp_path)
    src = export / "np_fedjob"
    assert sorted(os.listdir(str(src))) == ["app_server", "app_site-1", "app_site-2", "meta.json"]
    # the export directory itself is not a job: `nvflare job submit` would not pick its sub-folder either (it has no
    # app/ folder), and the module says which folder to give
    proc = adhoc("job", {"admin_kit": fed.admin_kit, "src": str(export), "timeout": 30}, tmp_path)
    assert proc.returncode != 0
    assert "It holds the job folders np_fedjob: give one of them as src" in " ".join(proc.stdout.split()), proc.stdout
    proc = adhoc("job", {"admin_kit": fed.admin_kit, "src": str(src), "timeout": 180, "dest": str(tmp_path / "res")},
                 tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"status": "FINISHED:COMPLETED"' in proc.stdout and '"submitted": true' in proc.stdout, proc.stdout
    job_id = re.search(r'"job_id": "([^"]+)"', proc.stdout).group(1)
    assert (tmp_path / "res" / job_id / "workspace" / "models" / "server.npy").is_file()


def test_job_link_outside_refused_through_ansible(fed, tmp_path):
    src = tmp_path / "job"
    import shutil

    shutil.copytree(EXAMPLE_JOB, str(src))
    os.symlink(os.path.join(fed.admin_kit, "startup", "client.key"), str(src / "app" / "custom" / "key.pem"))
    proc = adhoc("job", {"admin_kit": fed.admin_kit, "src": str(src), "timeout": 30}, tmp_path)
    assert proc.returncode != 0
    assert "app/custom/key.pem" in proc.stdout and "points outside the job folder" in proc.stdout, proc.stdout


def test_a_job_app_too_large_for_http_is_warned_of_through_ansible(fed, tmp_path):
    """The warning reaches the operator's screen (check mode: nothing is submitted)."""
    import shutil

    src = tmp_path / "job"
    shutil.copytree(EXAMPLE_JOB, str(src))
    (src / "app" / "custom" / "weights.bin").write_bytes(b"\0" * (5 << 20))
    env_args = {"admin_kit": fed.admin_kit, "src": str(src), "timeout": 30}
    proc = adhoc("job", env_args, tmp_path, "--check")
    flat = " ".join(proc.stdout.split() + proc.stderr.split())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[WARNING]: the app app of this job holds 5.0 MiB; over NVFLARE's http scheme" in flat, flat


def test_wait_clients_quorum_names_the_missing_client(fed, tmp_path):
    expected = list(CLIENTS) + ["site-9"]
    proc = adhoc(
        "wait_clients",
        {"admin_kit": fed.admin_kit, "expected_clients": expected, "min_clients": "2", "timeout": 60, "quorum_grace": 4, "poll_interval": 1},
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^\[localhost\] wait for clients, \d+s/60s: 2/3 clients connected \(quorum 2\); missing: site-9$", proc.stdout, re.M), proc.stdout
    assert '"missing_clients": [\n        "site-9"\n    ]' in proc.stdout or '"site-9"' in proc.stdout


def test_wait_clients_fails_below_quorum(fed, tmp_path):
    proc = adhoc(
        "wait_clients",
        {"admin_kit": fed.admin_kit, "expected_clients": list(CLIENTS) + ["site-8", "site-9"], "min_clients": "75%", "timeout": 3, "poll_interval": 1},
        tmp_path,
    )
    assert proc.returncode != 0
    assert "only 2 of the 4 clients connected after" in proc.stdout and "below the quorum of 3" in proc.stdout, proc.stdout
    assert "missing: site-8, site-9" in proc.stdout


def test_job_timeout_through_the_action_plugin(fed, tmp_path):
    import shutil

    src = tmp_path / "unschedulable"
    shutil.copytree(EXAMPLE_JOB, str(src))
    meta = json.loads((src / "meta.json").read_text())
    meta["min_clients"] = 2
    meta["deploy_map"] = {"app": ["server", "site-1", "site-9"]}  # site-9 is no client of this federation
    # a name of this run's own: the submit token hashes the content, and the shared federation may hold
    # an identical job from another test (then this run would find it instead of submitting)
    meta["name"] = "unschedulable-%d-%d" % (os.getpid(), time.time_ns())
    (src / "meta.json").write_text(json.dumps(meta))
    proc = adhoc("job", {"admin_kit": fed.admin_kit, "src": str(src), "timeout": 6}, tmp_path)
    assert proc.returncode != 0
    assert re.search(r"^\[localhost\] job \S+: SUBMITTED, \d+s/6s$", proc.stdout, re.M), proc.stdout
    flat = " ".join(proc.stdout.split())
    # the whole timeout, and the module's reason: which of the deploy_map's clients are not connected
    assert ("did not finish within 6s (last status SUBMITTED): the server has not started it: its deploy_map names "
            "the clients site-1, site-9, of which 1 is connected (connected: site-1, site-2), and it needs "
            "min_clients=2 of them. Start or reconnect site-9") in flat, proc.stdout
    assert '"error": "timeout"' in proc.stdout and '"submitted": true' in proc.stdout, proc.stdout
    # by default the job stays queued on the server, and the message says so
    assert "; the job stays SUBMITTED on the server (abort_on_timeout=true aborts it on a timeout)" in flat, proc.stdout
    assert '"aborted"' not in proc.stdout
    # the same, as fields: the action builds its message from them
    assert '"waited_status": "SUBMITTED"' in proc.stdout, proc.stdout
    assert re.search(r'"reason": "the server has not started it: .*; the job stays SUBMITTED on the server', proc.stdout)
    job_id = re.search(r'"job_id": "([0-9a-f-]+)"', proc.stdout).group(1)

    # abort_on_timeout: the same wait aborts it; NVFLARE cancels a job that never started
    proc = adhoc("job", {"admin_kit": fed.admin_kit, "job_id": job_id, "timeout": 2, "abort_on_timeout": True}, tmp_path)
    flat = " ".join(proc.stdout.split())
    assert proc.returncode != 0
    assert '"error": "timeout"' in proc.stdout and '"aborted": true' in proc.stdout, proc.stdout
    assert ("did not finish within 2s (last status SUBMITTED): the server has not started it" in flat
            and "; aborted it (abort_on_timeout), its status is now FINISHED:ABORTED" in flat), proc.stdout
    assert '"changed": true' in proc.stdout, proc.stdout
    assert '"waited_status": "SUBMITTED"' in proc.stdout and '"status": "FINISHED:ABORTED"' in proc.stdout, proc.stdout
    # and the server says so too: the job ended, aborted (the module reports any end but COMPLETED as job_failed)
    proc = adhoc("job", {"admin_kit": fed.admin_kit, "job_id": job_id, "wait": False}, tmp_path)
    assert '"error": "job_failed"' in proc.stdout and '"status": "FINISHED:ABORTED"' in proc.stdout, proc.stdout


def test_progress_polls_report_the_round_the_server_log_started(fed, tmp_path):
    """The job module's progress=true polls read the round from the real server's job log while it runs."""
    import shutil

    src = tmp_path / "np_rounds"
    shutil.copytree(EXAMPLE_JOB, str(src))
    cfg = src / "app" / "config" / "config_fed_server.json"
    data = json.loads(cfg.read_text())
    data["workflows"][0]["args"]["num_rounds"] = 8
    cfg.write_text(json.dumps(data))
    sub = adhoc("job", {"admin_kit": fed.admin_kit, "src": str(src), "wait": False}, tmp_path)
    assert sub.returncode == 0, sub.stdout + sub.stderr
    job_id = re.search(r'"job_id": "([^"]+)"', sub.stdout).group(1)
    rounds, deadline = [], time.time() + 120
    while time.time() < deadline:
        poll = adhoc("job", {"admin_kit": fed.admin_kit, "job_id": job_id, "wait": False, "progress": True}, tmp_path)
        assert poll.returncode == 0, poll.stdout
        status = re.search(r'"status": "([^"]+)"', poll.stdout).group(1)
        found = re.search(r'"round": (\d+)', poll.stdout)
        if found:
            rounds.append(int(found.group(1)))
        if status.startswith("FINISHED") or len(set(rounds)) >= 2:
            break
        time.sleep(1)
    assert rounds and all(0 <= r < 8 for r in rounds) and rounds == sorted(rounds), (rounds, poll.stdout)
    done = adhoc("job", {"admin_kit": fed.admin_kit, "job_id": job_id, "timeout": 180}, tmp_path)
    assert '"status": "FINISHED:COMPLETED"' in done.stdout, done.stdout
    assert '"round"' not in done.stdout  # a waiting run reports no round


def test_last_round_reads_nvflare_round_lines():
    from nvflare.fuel.utils.log_utils import center_message

    from ansible_collections.edgefl.nvflare.plugins.action.job import progress_line
    from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import last_round

    # FedAvg logs the round centred between two rules (center_message); ScatterAndGather on one line
    log = "\n".join([
        "2026-12-01 22:35:48,000 - FedAvg - INFO - [identity=server1, run=abc, wf=controller]: "
        + center_message(message="Round 0 started.", boarder_str="-"),
        "2026-12-01 22:35:50,000 - ScatterAndGather - INFO - [identity=server1, run=abc]: Round 1 started.",
        "2026-12-01 22:35:52,000 - FedAvg - INFO - Round 1 global metrics: {'accuracy': 1.0}",
        "2026-12-01 22:35:53,000 - FedAvg - INFO - " + center_message(message="Round 12 started.", boarder_str="-"),
        "2026-12-01 22:35:54,000 - X - INFO - Ground 99 started.",
    ])
    assert last_round(log) == 12
    assert last_round("no rounds yet") is None and last_round("") is None and last_round(None) is None
    assert progress_line("h", "j1", "RUNNING", 35.2, 900, 3) == "[h] job j1: RUNNING, 35s/900s, round 3 started"
    assert progress_line("h", "j1", "SUBMITTED", 1, 900) == "[h] job j1: SUBMITTED, 1s/900s"


def test_submit_job_reads_a_relative_folder_from_the_operators_directory(fed, tmp_path):
    """-e nvflare_submit_src=jobs/export -e nvflare_submit_dest=res from the directory ansible-playbook runs in: the job
    runs and its result lands there, although Ansible runs the job module in playbooks/ (edgefl.nvflare.control_path,
    docs/playbooks.md). jobs/export holds one job folder, named with a space, as `nvflare job submit -j jobs/export`
    takes it: the folder inside is submitted, as a copy under a name NVFLARE's FLARE API accepts."""
    import shutil

    shutil.copytree(EXAMPLE_JOB, str(tmp_path / "jobs" / "export" / "my job"))
    (tmp_path / "inv.yml").write_text(
        "all:\n"
        "  vars: {ansible_connection: local, ansible_python_interpreter: \"%s\", nvflare_workspace: \"%s\",\n"
        "         nvflare_admin_dest: \"%s\"}\n"
        "  children:\n"
        "    nvflare_server: {hosts: {srv: }}\n"
        "    nvflare_clients: {hosts: {c1: , c2: }}\n" % (sys.executable, tmp_path / "ws", fed.admin_kit)
    )
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    token = "relative-src-%d" % os.getpid()
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inv.yml", "-v",
         os.path.join(ROOT, "playbooks", "submit_job.yml"), "-e", "nvflare_submit_src=jobs/export",
         "-e", "nvflare_submit_dest=res", "-e", "nvflare_submit_timeout=180", "-e", "nvflare_submit_token=" + token],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"submitted": true' in proc.stdout and '"submit_token": "%s"' % token in proc.stdout, proc.stdout
    assert '"job_folder": "%s"' % (tmp_path / "jobs" / "export" / "my job") in proc.stdout, proc.stdout
    # waited for (the shared federation is idle again) and downloaded into res/ of that directory, too
    job_id = re.search(r"^\[localhost\] job (\S+): FINISHED:COMPLETED", proc.stdout, re.M).group(1)
    assert (tmp_path / "res" / job_id / "workspace" / "models" / "server.npy").is_file(), proc.stdout
    # the module's own error for a relative folder that is not there names the directory it read it from
    missing = adhoc("job", {"admin_kit": fed.admin_kit, "src": "no/such/job", "wait": False}, tmp_path)
    assert missing.returncode != 0
    assert "a relative path is read from %s" % tmp_path in missing.stdout, missing.stdout
    assert "meta.json, meta.conf or meta.yml" in missing.stdout, missing.stdout
