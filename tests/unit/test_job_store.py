"""roles/nvflare_service/files/job_store.py: the jobs upgrade.yml waits for, read on the server host.

The store format and the times come from a real local NVFLARE server (flare_local_federation) and a real
submitted job; the script runs as upgrade.yml runs it, as a separate Python process.
"""

import datetime
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from flare_local_federation import add_collection_path, get_federation, run_module

add_collection_path()

from ansible_collections.edgefl.nvflare.plugins.modules import job as job_module  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(REPO, "roles", "nvflare_service", "files", "job_store.py")
EXAMPLE_JOB = os.path.join(REPO, "playbooks", "files", "jobs", "numpy_fedavg")


def _load():
    spec = importlib.util.spec_from_file_location("job_store", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


js = _load()


def run(workspace, unit):
    proc = subprocess.run([sys.executable, SCRIPT, str(workspace), str(unit)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line.startswith("finishing ")]


def _workspace(tmp_path, store):
    ws = tmp_path / "ws"
    (ws / "local").mkdir(parents=True)
    resources = {"format_version": 2, "components": [
        {"id": "job_scheduler", "path": "x", "args": {}},
        {"id": "job_manager", "path": "nvflare.apis.impl.job_def_manager.SimpleJobDefManager",
         "args": {"uri_root": str(store), "job_store_id": "job_store"}},
    ]}
    (ws / "local" / "resources.json").write_text(json.dumps(resources))
    return ws


def _job(store, job_id, status, submit_time, legacy=False, start_time=""):
    (store / job_id).mkdir(parents=True)
    meta = {"job_id": job_id, "status": status, "submit_time": submit_time, "start_time": start_time}
    # 2.9 writes JSON; older versions a JSON string of a Python literal (FilesystemStorage._decode_meta reads both)
    (store / job_id / "meta").write_text(json.dumps(str(meta)) if legacy else json.dumps(meta))


def test_store_entries(tmp_path):
    store = tmp_path / "jobs-storage"
    started = js.process_start(os.getpid())
    assert started is not None and started <= time.time()
    now = time.time()
    _job(store, "running-new", "RUNNING", now)
    _job(store, "dispatched-legacy", "DISPATCHED", now, legacy=True)
    _job(store, "running-before-start", "RUNNING", started - 100)
    _job(store, "submitted", "SUBMITTED", now)
    _job(store, "done", "FINISHED:COMPLETED", now)
    _job(store, "no-time", "RUNNING", None)
    # queued before the server started, started after it: 2.9's ISO start time, older versions' local time
    _job(store, "queued-iso", "RUNNING", started - 100,
         start_time=datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat())
    _job(store, "queued-local", "RUNNING", started - 100, start_time=str(datetime.datetime.fromtimestamp(now)))
    _job(store, "started-before", "RUNNING", started - 100,
         start_time=datetime.datetime.fromtimestamp(started - 50, datetime.timezone.utc).isoformat())
    (store / "garbage").mkdir()
    (store / "garbage" / "meta").write_text("{not json")
    (store / "no-meta").mkdir()
    ws = _workspace(tmp_path, store)
    assert js.store_root(str(ws)) == str(store)
    finishing = ["dispatched-legacy", "no-time", "queued-iso", "queued-local", "running-new"]
    assert run(ws, os.getpid()) == ["finishing " + j for j in finishing]
    # a job whose process still runs is "running", not "finishing"
    assert js.finishing_jobs(str(store), started, ["running-new"]) == finishing[:-1]
    # a server that does not run finalizes nothing
    assert run(ws, 0) == []
    assert js.process_start(2 ** 22 + 7) is None


@pytest.mark.parametrize("text, epoch", [
    ("2026-12-02T08:30:00.250000+00:00", 1796200200.25),
    ("2026-12-02T09:30:00+01:00", 1796200200.0),
    ("2026-12-02T08:30:00Z", 1796200200.0),
    ("", None), (None, None), ("yesterday", None),
])
def test_start_epoch(text, epoch):
    assert js.start_epoch(text) == epoch


def test_start_epoch_reads_a_local_time_as_local():
    now = time.time()
    assert abs(js.start_epoch(str(datetime.datetime.fromtimestamp(now))) - now) < 1e-3


def test_store_root_defaults(tmp_path):
    assert js.store_root(str(tmp_path)) == js.DEFAULT_STORE
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "resources.json.default").write_text(json.dumps({"components": []}))
    assert js.store_root(str(tmp_path)) == js.DEFAULT_STORE


def test_running_jobs_reads_the_job_processes(tmp_path):
    proc = tmp_path / "proc"
    rows = {
        "101": ["/opt/nvflare/venv/bin/python", "-u", "-m", js.RUNNER, "-m", "/var/lib/nvflare/server1", "-n", "job-a"],
        "102": ["/opt/nvflare/venv/bin/python", "-m", "nvflare.private.fed.app.server.server_train"],
        "103": ["sleep", "-n", "job-x"],
    }
    for pid, argv in rows.items():
        (proc / pid).mkdir(parents=True)
        (proc / pid / "cmdline").write_bytes(("\0".join(argv) + "\0").encode())
    (proc / "self").mkdir()
    (proc / "104").mkdir()  # gone between listdir and open
    assert js.running_jobs(str(proc)) == ["job-a"]


@pytest.fixture(scope="module")
def fed(tmp_path_factory, pytestconfig):
    return get_federation(str(tmp_path_factory.getbasetemp() / "federation"), pytestconfig)


def test_a_real_server_store(fed, tmp_path, capsys):
    """A real job (queued: min_clients it cannot get) in a real server's store, read as upgrade.yml reads it."""
    src = str(tmp_path / "queued")
    shutil.copytree(EXAMPLE_JOB, src)
    with open(os.path.join(src, "meta.json")) as f:
        meta = json.load(f)
    meta["min_clients"] = 9
    with open(os.path.join(src, "meta.json"), "w") as f:
        json.dump(meta, f)
    failed, job = run_module(job_module, {"admin_kit": fed.admin_kit, "src": src, "wait": False}, capsys)
    assert not failed, job
    server_ws, server_pid = fed.kit("localhost"), fed.procs["localhost"].pid
    store = js.store_root(server_ws)
    assert os.path.isfile(os.path.join(store, job["job_id"], "meta")), store
    assert run(server_ws, server_pid) == []  # queued jobs survive a restart
    # the same entry as the server leaves it when the job's process has ended before its final status
    copy = tmp_path / "store"
    shutil.copytree(os.path.join(store, job["job_id"]), str(copy / job["job_id"]))
    with open(str(copy / job["job_id"] / "meta"), "rb") as f:
        real = js.decode_meta(f.read())
    assert real["job_id"] == job["job_id"] and real["status"] == "SUBMITTED"
    (copy / job["job_id"] / "meta").write_text(json.dumps(dict(real, status="RUNNING")))
    ws = _workspace(tmp_path, copy)
    assert run(ws, server_pid) == ["finishing " + job["job_id"]]
    # and a leftover when the server started after it (another process, started now: /proc/stat's boot time is
    # whole seconds, so a start time can be up to 1 s early - on the safe side)
    time.sleep(1.2)
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert run(ws, later.pid) == []
    finally:
        later.kill()
        later.wait()
