"""edgefl.nvflare.status against a real local NVFLARE federation (server + 2 clients as processes)."""

import os
import shutil
import time

import pytest

from flare_local_federation import ADMIN, CLIENTS, add_collection_path, free_port, get_federation, run_module

add_collection_path()

from ansible_collections.edgefl.nvflare.plugins.modules import status as status_module  # noqa: E402


@pytest.fixture(scope="module")
def fed(tmp_path_factory, pytestconfig):
    return get_federation(str(tmp_path_factory.getbasetemp() / "federation"), pytestconfig)


def wait_connected(fed, capsys, names, tries=40):
    import time

    res = None
    for _attempt in range(tries):
        failed, res = run_module(status_module, {"admin_kit": fed.admin_kit, "expected_clients": names}, capsys)
        assert not failed, res
        if res["all_clients_connected"]:
            return res
        time.sleep(1)
    raise AssertionError("clients never connected: %s" % res)


@pytest.mark.parametrize("check_mode", [False, True])
def test_status_lists_connected_clients(fed, capsys, check_mode):
    wait_connected(fed, capsys, list(CLIENTS))
    failed, res = run_module(
        status_module,
        {"admin_kit": fed.admin_kit, "expected_clients": list(CLIENTS) + ["site-9"], "jobs": True, "versions": True},
        capsys,
        check_mode=check_mode,
    )
    assert not failed, res
    assert res["changed"] is False
    assert res["reachable"] is True
    assert res["server"]["status"] and res["server"]["start_time"]
    assert res["client_names"] == sorted(CLIENTS)
    assert [c["name"] for c in res["clients"]] == sorted(CLIENTS)
    assert all(c["last_connect_time"] for c in res["clients"])
    assert res["missing_clients"] == ["site-9"]
    assert res["all_clients_connected"] is False
    assert isinstance(res["running_jobs"], list) and isinstance(res["jobs"], list)
    assert res["versions"].get("server", "").startswith("2."), res["versions"]


def _dead_kit(fed, tmp_path):
    kit = tmp_path / ADMIN
    shutil.copytree(fed.admin_kit, kit)
    cfg = kit / "startup" / "fed_admin.json"
    cfg.write_text(cfg.read_text().replace(str(fed.admin_port), str(free_port())))
    return str(kit)


def test_status_unreachable_fails_by_default(fed, tmp_path, capsys):
    failed, res = run_module(status_module, {"admin_kit": _dead_kit(fed, tmp_path), "connect_timeout": 2}, capsys)
    assert failed and res["error"] == "unreachable", res
    assert res["changed"] is False


def test_status_unreachable_for_until_loops(fed, tmp_path, capsys):
    failed, res = run_module(
        status_module,
        {"admin_kit": _dead_kit(fed, tmp_path), "connect_timeout": 2, "fail_unreachable": False, "expected_clients": ["site-1"]},
        capsys,
    )
    assert not failed, res
    assert res["reachable"] is False and res["server"]["status"] == "unreachable"
    assert res["missing_clients"] == ["site-1"] and res["all_clients_connected"] is False
    assert res["unreachable_msg"]


def test_status_bad_admin_kit(tmp_path, capsys):
    failed, res = run_module(status_module, {"admin_kit": str(tmp_path)}, capsys)
    assert failed and res["error"] == "admin_kit" and "admin_kit" in res["msg"]
    assert os.listdir(str(tmp_path)) == []


def test_status_result_feeds_the_status_table(fed, capsys):
    """playbooks/status.yml's rows from a live result: the filter reads the keys the module returns."""
    from ansible_collections.edgefl.nvflare.plugins.filter.status_report import FilterModule

    status_report = FilterModule().filters()["status_report"]
    wait_connected(fed, capsys, list(CLIENTS))
    failed, res = run_module(
        status_module, {"admin_kit": fed.admin_kit, "versions": True, "jobs": True, "jobs_limit": 5}, capsys
    )
    assert not failed, res
    hosts = [{"site_name": "localhost", "role": "server", "service": "active"}]
    hosts += [{"site_name": c, "role": "client", "service": "active"} for c in CLIENTS + ("site-9",)]
    report = status_report(hosts, res)
    rows = {r["site"]: r for r in report["hosts"]}
    assert rows["localhost"]["registered"] == "up" and rows["localhost"]["nvflare"].startswith("2.")
    for c in CLIENTS:
        assert rows[c]["registered"] == "connected" and rows[c]["nvflare"].startswith("2."), rows[c]
    assert rows["site-9"]["registered"] == "NOT connected" and rows["site-9"]["nvflare"] == "?"
    assert report["jobs"][0].startswith("running jobs: ")
    assert len(report["jobs"]) == 1 + len(res["jobs"])


def test_status_flags_unknown_clients(fed, capsys, request):
    """A connected client the inventory does not list: a failure with expected_clients, else a warning."""
    wait_connected(fed, capsys, list(CLIENTS))
    failed, res = run_module(status_module, {"admin_kit": fed.admin_kit, "expected_clients": list(CLIENTS[:1])}, capsys)
    assert failed and res["error"] == "unknown_clients", res
    assert res["unknown_clients"] == sorted(CLIENTS[1:]) and "nvflare_remove_clients=" in res["msg"]
    # the conftest runner: module warnings as a real module process returns them
    from conftest import warnings_of

    res = request.getfixturevalue("run_module")(
        status_module.main, {"admin_kit": fed.admin_kit, "expected_clients": list(CLIENTS[:1]), "fail_unknown": False}
    )
    assert not res.get("failed") and res["unknown_clients"] == sorted(CLIENTS[1:]), res
    assert any("not in the inventory" in w for w in warnings_of(res)), res


def test_disable_client_locks_it_out_until_enabled(fed, capsys):
    """NVFLARE's own disable_client: the session is dropped, the server persists the name, enable lets it back."""
    import json
    import time

    victim = CLIENTS[-1]
    wait_connected(fed, capsys, list(CLIENTS))
    args = {"admin_kit": fed.admin_kit, "disable_clients": [victim]}
    failed, res = run_module(status_module, args, capsys, check_mode=True)
    assert not failed and res["changed"] is True and res["disabled"] == [victim], res
    assert victim in res["client_names"]  # check mode sent nothing
    failed, res = run_module(status_module, args, capsys)
    assert not failed and res["changed"] is True and res["disabled"] == [victim], res
    assert victim not in res["client_names"]
    with open(os.path.join(fed.kit("localhost"), "disabled_clients.json")) as f:
        assert json.load(f) == {"disabled_clients": [victim]}
    failed, res = run_module(status_module, args, capsys)
    assert not failed and res["changed"] is False and res["disabled"] == [], res
    # the running client keeps trying: it must not come back while disabled
    time.sleep(8)
    failed, res = run_module(status_module, {"admin_kit": fed.admin_kit}, capsys)
    assert victim not in res["client_names"], res
    failed, res = run_module(status_module, {"admin_kit": fed.admin_kit, "enable_clients": [victim]}, capsys)
    assert not failed and res["changed"] is True and res["enabled"] == [victim], res
    with open(os.path.join(fed.kit("localhost"), "disabled_clients.json")) as f:
        assert json.load(f) == {"disabled_clients": []}
    # leave the shared federation as found: restart the client process if it gave up
    fed.procs.pop(victim).kill()
    fed.start(victim, "client")
    wait_connected(fed, capsys, list(CLIENTS), tries=90)


def test_job_guard_reads_the_job_store_of_a_real_server(fed, capsys, tmp_path):
    """O(job_guard=true) lists the job store: a queued job is no finishing job; the same rows marked RUNNING
    (a job whose process ended before its final status) are, with the real server's times and formats."""
    import json

    from ansible_collections.edgefl.nvflare.plugins.module_utils import _flare_status as fs
    from ansible_collections.edgefl.nvflare.plugins.modules import job as job_module

    src = str(tmp_path / "unschedulable")
    shutil.copytree(os.path.join(os.path.dirname(__file__), "..", "..", "playbooks", "files", "jobs", "numpy_fedavg"), src)
    meta_path = os.path.join(src, "meta.json")
    with open(meta_path) as f:
        meta = json.load(f)
    meta["min_clients"] = 9  # stays SUBMITTED: never scheduled
    # a name of this run's own: the default submit token hashes the content, and another test on the same federation
    # (test_job.py) submits and aborts a job of the same content, which this submission would otherwise find
    meta["name"] = "guard-%d-%d" % (os.getpid(), time.time_ns())
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    failed, job = run_module(job_module, {"admin_kit": fed.admin_kit, "src": src, "wait": False}, capsys)
    assert not failed, job
    failed, res = run_module(status_module, {"admin_kit": fed.admin_kit, "job_guard": True, "jobs": True}, capsys)
    assert not failed, res
    assert res["finishing_jobs"] == [] and res["job_guard"]["busy"] is False, res
    row = [j for j in res["jobs"] if j["job_id"] == job["job_id"]]
    assert row and row[0]["status"] == "SUBMITTED", res["jobs"]
    # the server's own start time and submit times: submitted after this server started, so finishing if RUNNING
    as_running = [dict(row[0], status="RUNNING")]
    assert fs.finishing_jobs(as_running, [], res["server"]["start_time"]) == [job["job_id"]]
    assert fs.finishing_jobs(as_running, [job["job_id"]], res["server"]["start_time"]) == []
    assert fs.finishing_jobs(as_running, [], res["server"]["start_time"] + 10 ** 6) == []  # a leftover
    verdict = fs.job_guard(dict(res, finishing_jobs=[job["job_id"]]), 30)
    assert verdict["busy"] and verdict["job_ids"] == [job["job_id"]] and "finalized" in verdict["msg"]


def test_job_guard_tries_an_unreachable_server_three_times(fed, tmp_path, capsys, monkeypatch):
    from ansible_collections.edgefl.nvflare.plugins.module_utils import _flare, _flare_status as fs

    calls = []
    real = _flare.FlareClient.connect

    def counted(self):
        calls.append(1)
        return real(self)

    monkeypatch.setattr(_flare.FlareClient, "connect", counted)
    monkeypatch.setattr(fs.time, "sleep", lambda seconds: None)
    kit = _dead_kit(fed, tmp_path)
    failed, res = run_module(
        status_module, {"admin_kit": kit, "connect_timeout": 1, "fail_unreachable": False, "job_guard": True}, capsys
    )
    assert not failed and res["reachable"] is False and res["job_guard"]["busy"] is False, res
    assert len(calls) == fs.GUARD_CONNECT_ATTEMPTS
    calls.clear()
    failed, res = run_module(status_module, {"admin_kit": kit, "connect_timeout": 1, "fail_unreachable": False}, capsys)
    assert len(calls) == 1


def test_the_job_guard_says_when_the_server_did_not_answer(fed, tmp_path):
    """A server that does not answer runs no job, so the restart goes on; but one that refuses this admin kit's CA
    (after a CA rotation that has not reached every host) looks the same, so the guard says it did not ask."""
    import sys

    from conftest import flat, run_playbook

    kit = _dead_kit(fed, tmp_path)
    (tmp_path / "play.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_role:\n        name: edgefl.nvflare.nvflare_common\n        tasks_from: job_guard\n"
        "      vars:\n        nvflare_common_job_guard_admin_kit: %s\n        nvflare_common_job_guard_timeout: 0\n"
        "        nvflare_control_python: %s\n" % (kit, sys.executable))
    proc = run_playbook(tmp_path, "-i", "localhost,", "-c", "local", "play.yml", timeout=180)
    out = flat(proc.stdout)
    assert proc.returncode == 0, out
    assert "The server did not answer the check for running jobs (" in out and "so the restart goes on" in out, out


def _foreign_kit(fed, tmp_path):
    """The admin kit of another provisioning (its own root CA), pointed at the shared federation's server."""
    from flare_local_federation import provision

    prod = provision(str(tmp_path / "other"), fed.fed_port, fed.admin_port)
    return os.path.join(prod, ADMIN)


def test_unreachable_says_why_a_server_refuses_a_kit_of_another_ca(fed, tmp_path, capsys):
    """The FLARE API says "cannot connect to server" for a server whose certificate another root CA signed, as for a
    stopped one; status called such a server unreachable and asked whether the service runs."""
    failed, res = run_module(status_module, {"admin_kit": _foreign_kit(fed, tmp_path), "connect_timeout": 3,
                                             "fail_unreachable": False}, capsys)
    assert not failed and res["reachable"] is False, res
    assert ("The server at localhost:%d answers, but its certificate is not signed by this admin kit's root CA"
            % fed.admin_port) in res["unreachable_msg"], res["unreachable_msg"]
    assert "Is the server service running" not in res["unreachable_msg"]


def test_unreachable_says_nothing_listens(fed, tmp_path, capsys):
    failed, res = run_module(status_module, {"admin_kit": _dead_kit(fed, tmp_path), "connect_timeout": 2}, capsys)
    assert failed and res["error"] == "unreachable", res
    assert "Nothing accepts connections on localhost:" in res["msg"] and "(connection refused)" in res["msg"], res


def test_the_probe_finds_nothing_wrong_with_the_servers_own_kit(fed):
    from ansible_collections.edgefl.nvflare.plugins.module_utils._admin_probe import diagnose

    assert diagnose(fed.admin_kit, 3) == ""


def test_the_probe_names_a_server_name_that_does_not_resolve(fed, tmp_path):
    from ansible_collections.edgefl.nvflare.plugins.module_utils._admin_probe import diagnose

    kit = tmp_path / ADMIN
    shutil.copytree(fed.admin_kit, kit)
    cfg = kit / "startup" / "fed_admin.json"
    cfg.write_text(cfg.read_text().replace('"host": "localhost"', '"host": "no-such-server.invalid"'))
    said = diagnose(str(kit), 2)
    assert said.startswith("'no-such-server.invalid' (the server's name in the admin kit's fed_admin.json) does not "
                           "resolve on this machine"), said


def test_the_probe_reads_the_overseer_end_point_of_older_kits(tmp_path):
    """NVFLARE before 2.7 names the server in the overseer agent's sp_end_point, not in admin.host/port."""
    from ansible_collections.edgefl.nvflare.plugins.module_utils._admin_probe import admin_target

    startup = tmp_path / "startup"
    startup.mkdir()
    (startup / "fed_admin.json").write_text(
        '{"admin": {"overseer_agent": {"path": "nvflare.ha.dummy_overseer_agent.DummyOverseerAgent", '
        '"args": {"sp_end_point": "server1:8002:8003"}}}}')
    assert admin_target(str(tmp_path))[:2] == ("server1", 8003)
    (startup / "fed_admin.json").write_text('{"admin": {}}')
    assert admin_target(str(tmp_path)) is None
