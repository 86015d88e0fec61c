"""edgefl.nvflare.job against a real local NVFLARE federation (server + 2 clients as processes).

The federation is provisioned with NVFLARE's own lighter API and runs the real server/client
foreground commands; the job is the shipped NumPy FedAvg example. Nothing is mocked.
"""

import json
import os
import shutil
import time

import numpy as np
import pytest

from flare_local_federation import ADMIN, add_collection_path, get_federation, provision, run_module

add_collection_path()

from ansible_collections.edgefl.nvflare.plugins.modules import job as job_module  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE_JOB = os.path.join(REPO, "playbooks", "files", "jobs", "numpy_fedavg")
INITIAL = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])


def expected_model():
    with open(os.path.join(EXAMPLE_JOB, "app", "config", "config_fed_server.json")) as f:
        rounds = json.load(f)["workflows"][0]["args"]["num_rounds"]
    return INITIAL + rounds


@pytest.fixture(scope="module")
def fed(tmp_path_factory, pytestconfig):
    return get_federation(str(tmp_path_factory.getbasetemp() / "federation"), pytestconfig)


@pytest.fixture
def work(tmp_path):
    return tmp_path


def job_copy(work, name, edit=None):
    dst = os.path.join(str(work), name)
    shutil.copytree(EXAMPLE_JOB, dst)
    if edit:
        edit(dst)
    return dst


def test_submit_wait_download_is_idempotent(fed, work, capsys):
    dest = os.path.join(str(work), "results")
    args = {"admin_kit": fed.admin_kit, "src": EXAMPLE_JOB, "dest": dest, "timeout": 180, "poll_interval": 1}

    failed, check1 = run_module(job_module, args, capsys, check_mode=True)
    assert not failed, check1
    assert check1["changed"] and not check1["submitted"]
    assert check1["job_id"] is None and check1["status"] == "NOT_SUBMITTED"
    assert not os.path.exists(dest), "check mode must not download"

    failed, first = run_module(job_module, args, capsys)
    assert not failed, first
    assert first["changed"] and first["submitted"]
    assert first["status"] == "FINISHED:COMPLETED"
    assert first["submit_token"].startswith("edgefl-numpy_fedavg-")
    assert first["result_path"] == os.path.join(dest, first["job_id"])
    model = np.load(os.path.join(first["result_path"], "workspace", "models", "server.npy"), allow_pickle=True)
    np.testing.assert_allclose(np.asarray(model, dtype=float), expected_model())

    leftovers = [f for _base, _dirs, files in os.walk(EXAMPLE_JOB) for f in files if f.startswith(".__nvfl")]
    assert not leftovers, "the user's job folder must not be modified (FLARE signs the submitted copy)"

    failed, check2 = run_module(job_module, args, capsys, check_mode=True)
    assert not failed, check2
    assert not check2["changed"] and check2["job_id"] == first["job_id"]

    failed, second = run_module(job_module, args, capsys)
    assert not failed, second
    assert not second["changed"] and not second["submitted"]
    assert second["job_id"] == first["job_id"] and second["status"] == "FINISHED:COMPLETED"


def test_job_failure_reports_status_and_log_tail(fed, work, capsys):
    def break_server_config(path):
        cfg = os.path.join(path, "app", "config", "config_fed_server.json")
        with open(cfg) as f:
            conf = json.load(f)
        conf["workflows"][0]["path"] = "nvflare.app_common.workflows.no_such_module.NoSuchController"
        with open(cfg, "w") as f:
            json.dump(conf, f)

    src = job_copy(work, "broken_job", break_server_config)
    failed, res = run_module(job_module, {"admin_kit": fed.admin_kit, "src": src, "timeout": 120, "poll_interval": 1}, capsys)
    assert failed
    assert res["error"] == "job_failed", res
    assert res["status"].startswith("FINISHED:") and res["status"] != "FINISHED:COMPLETED"
    assert res["status"] in res["msg"] and res["job_id"] in res["msg"]
    assert res["changed"] and res["submitted"]
    assert res["log_tail"].strip(), "the failure must carry the tail of the job log"


def _conf_from_env(path, base, var):
    """The app's config BASE rewritten from .json to .conf, with one more key that reads ${VAR}."""
    cfg = os.path.join(path, "app", "config", base + ".json")
    with open(cfg) as f:
        text = f.read().strip()
    os.remove(cfg)
    with open(os.path.join(path, "app", "config", base + ".conf"), "w") as f:
        f.write('{"edgefl_from_env": ${%s}, ' % var + text[1:] + "\n")


def test_a_client_config_value_from_the_clients_environment_completes(fed, work, capsys):
    """${EDGEFL_TEST_SITE_VALUE} in config_fed_client.conf, set in the clients' environment only (as
    nvflare_service_environment sets it): each client resolves it when it reads its app's config (the FLARE API
    uploads the file as written). Such a job was refused before connecting, as this control node cannot resolve the
    variable; the check now accepts it with a warning."""
    assert "EDGEFL_TEST_SITE_VALUE" not in os.environ
    src = job_copy(work, "env_job", lambda path: _conf_from_env(path, "config_fed_client", "EDGEFL_TEST_SITE_VALUE"))
    failed, res = run_module(job_module, {"admin_kit": fed.admin_kit, "src": src, "timeout": 180, "poll_interval": 1}, capsys)
    assert not failed and res["status"] == "FINISHED:COMPLETED", res


def test_a_job_whose_server_files_include_others_completes(fed, work, capsys):
    """meta.conf and config_fed_server.conf with an include of another file of the job, which the server cannot
    follow in the uploaded zip, and a config_fed_client.conf that includes a file outside its app, which a client
    never gets: nvflare job submit merges them before it uploads, and so does the module now. The job completes,
    and a second run finds it."""
    def with_includes(path):
        meta_path = os.path.join(path, "meta.json")
        with open(meta_path) as f:
            meta = json.load(f)
        os.remove(meta_path)
        meta["name"] = "include_job"
        with open(os.path.join(path, "deploy.conf"), "w") as f:
            f.write("deploy_map = %s\n" % json.dumps(meta.pop("deploy_map")))
        with open(os.path.join(path, "meta.conf"), "w") as f:
            f.write('include required("deploy.conf")\n' + json.dumps(meta)[1:-1] + "\n")
        cfg = os.path.join(path, "app", "config", "config_fed_server.json")
        with open(cfg) as f:
            server = f.read().strip()
        os.remove(cfg)
        with open(os.path.join(path, "app", "config", "common.conf"), "w") as f:
            f.write("edgefl_from_include = 2\n")
        with open(os.path.join(path, "app", "config", "config_fed_server.conf"), "w") as f:
            f.write('include "common.conf"\nedgefl_extra = ${edgefl_from_include}\n' + server[1:-1] + "\n")
        # a client gets its app folder alone: this include reaches it only merged
        os.rename(os.path.join(path, "app", "config", "config_fed_client.json"), os.path.join(path, "client.conf"))
        with open(os.path.join(path, "app", "config", "config_fed_client.conf"), "w") as f:
            f.write('include "../../client.conf"\n')

    src = job_copy(work, "include_job", with_includes)
    args = {"admin_kit": fed.admin_kit, "src": src, "timeout": 180, "poll_interval": 1}
    failed, res = run_module(job_module, args, capsys)
    assert not failed and res["submitted"] and res["status"] == "FINISHED:COMPLETED", res
    failed, again = run_module(job_module, args, capsys)
    assert not failed and not again["changed"] and again["job_id"] == res["job_id"], again


def need_more_clients(path):
    """The example job, never scheduled (min_clients above the two clients), with a name of its own: its submit
    token is its own, and these tests abort it."""
    meta_path = os.path.join(path, "meta.json")
    with open(meta_path) as f:
        meta = json.load(f)
    meta["min_clients"] = 9
    meta["name"] = "unschedulable-%d-%d" % (os.getpid(), time.time_ns())
    with open(meta_path, "w") as f:
        json.dump(meta, f)


def test_wait_timeout(fed, work, capsys):
    src = job_copy(work, "unschedulable", need_more_clients)
    failed, res = run_module(
        job_module, {"admin_kit": fed.admin_kit, "src": src, "timeout": 4, "poll_interval": 1}, capsys
    )
    assert failed and res["error"] == "timeout", res
    assert res["job_id"] and res["job_id"] in res["msg"]
    assert res["submitted"] and res["changed"]
    # The job was submitted once: waiting again on the same folder resolves to the same job.
    failed, again = run_module(job_module, {"admin_kit": fed.admin_kit, "src": src, "wait": False}, capsys)
    assert not failed and not again["changed"] and again["job_id"] == res["job_id"]


def test_wait_timeout_on_existing_job(fed, work, capsys):
    """job_id mode: monitor_job's TIMEOUT becomes the same failure, after waiting the whole timeout."""
    src = job_copy(work, "unschedulable", need_more_clients)
    failed, queued = run_module(job_module, {"admin_kit": fed.admin_kit, "src": src, "wait": False}, capsys)
    assert not failed and queued["job_id"] and queued["status"] == "SUBMITTED", queued

    timeout, poll = 3, 1
    started = time.monotonic()
    failed, res = run_module(
        job_module, {"admin_kit": fed.admin_kit, "job_id": queued["job_id"], "timeout": timeout, "poll_interval": poll}, capsys
    )
    elapsed = time.monotonic() - started
    assert failed and res["error"] == "timeout", res
    # the job was never dispatched: the message says why (min_clients against the connected clients)
    assert res["msg"] == (
        "job %s did not finish within %ss (last status SUBMITTED): the server has not started it: the job needs "
        "min_clients=9 and 2 client(s) are connected (site-1, site-2). Start or reconnect more clients (status.yml "
        "lists them), or lower min_clients in the job's meta; the job stays SUBMITTED on the server "
        "(abort_on_timeout=true aborts it on a timeout)" % (queued["job_id"], timeout)
    )
    assert res["status"] == "SUBMITTED" and res["job_id"] == queued["job_id"]
    assert not res["changed"] and not res["submitted"] and res["submit_token"] is None and "aborted" not in res
    # monitor_job checks the clock before each poll: the whole timeout, at most one interval more (+ login)
    assert timeout <= elapsed < timeout + poll + 10, elapsed

    # abort_on_timeout: the same timeout, then NVFLARE cancels the job that never started
    failed, res = run_module(job_module, {"admin_kit": fed.admin_kit, "job_id": queued["job_id"], "timeout": 1,
                                          "poll_interval": poll, "abort_on_timeout": True}, capsys)
    assert failed and res["error"] == "timeout" and res["aborted"] is True and res["changed"] is True, res
    assert res["status"] == "FINISHED:ABORTED", res
    assert res["msg"].startswith("job %s did not finish within 1s (last status SUBMITTED): " % queued["job_id"]), res
    assert res["msg"].endswith("; aborted it (abort_on_timeout), its status is now FINISHED:ABORTED"), res
    # an ended job: nothing to abort, the module reports how it ended
    failed, res = run_module(job_module, {"admin_kit": fed.admin_kit, "job_id": queued["job_id"], "wait": False,
                                          "abort_on_timeout": True}, capsys)
    assert failed and res["error"] == "job_failed" and res["status"] == "FINISHED:ABORTED" and not res["changed"], res


@pytest.mark.parametrize(
    "statuses, keep_going, seen",
    [
        (["SUBMITTED"], [True], ["SUBMITTED"]),
        (["SUBMITTED", "DISPATCHED", "RUNNING", "RUNNING"], [True] * 4, ["SUBMITTED", "DISPATCHED", "RUNNING"]),
        (["RUNNING", "FINISHED:COMPLETED"], [True, False], ["RUNNING", "FINISHED:COMPLETED"]),
        (["RUNNING", "FINISHED:EXECUTION_EXCEPTION"], [True, False], ["RUNNING", "FINISHED:EXECUTION_EXCEPTION"]),
        (["RUNNING", "ABORTED"], [True, False], ["RUNNING", "ABORTED"]),
    ],
)
def test_job_progress_callback(statuses, keep_going, seen):
    from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import JobProgress

    progress = JobProgress()
    answers = [progress(None, "job-1", {"job_id": "job-1", "status": s, "min_clients": 2}) for s in statuses]
    assert answers == keep_going
    assert progress.statuses == seen and progress.polls == len(statuses)
    assert progress.status == statuses[-1] and progress.meta["job_id"] == "job-1"


def test_unreachable_server(fed, work, capsys):
    from flare_local_federation import free_port

    kit = os.path.join(str(work), ADMIN)
    shutil.copytree(fed.admin_kit, kit)
    cfg_path = os.path.join(kit, "startup", "fed_admin.json")
    with open(cfg_path) as f:
        text = f.read()
    with open(cfg_path, "w") as f:
        f.write(text.replace(str(fed.admin_port), str(free_port())))
    failed, res = run_module(
        job_module, {"admin_kit": kit, "src": EXAMPLE_JOB, "connect_timeout": 3, "wait": False}, capsys
    )
    assert failed and res["error"] == "unreachable", res
    assert "cannot" in res["msg"] and not res["changed"]


def test_auth_refused_wrong_user(fed, capsys):
    failed, res = run_module(
        job_module,
        {"admin_kit": fed.admin_kit, "username": "mallory@nvidia.com", "src": EXAMPLE_JOB, "connect_timeout": 5, "wait": False},
        capsys,
    )
    assert failed and res["error"] == "auth", res["msg"]
    assert "mallory@nvidia.com" in res["msg"]


def test_auth_refused_foreign_root_ca(fed, work, capsys):
    # Same server name and ports, but a different project => a different root CA.
    other = provision(os.path.join(str(work), "other-ws"), fed.fed_port, fed.admin_port)
    failed, res = run_module(
        job_module,
        {"admin_kit": os.path.join(other, ADMIN), "src": EXAMPLE_JOB, "connect_timeout": 5, "wait": False},
        capsys,
    )
    assert failed and res["error"] in ("auth", "unreachable"), res
    assert not res["changed"]


@pytest.mark.parametrize(
    "args, field",
    [
        ({"src": "/nonexistent/job"}, "src"),
        ({"src": REPO}, "meta.json"),
        ({"src": EXAMPLE_JOB, "submit_token": "has spaces!"}, "submit_token"),
        ({"src": EXAMPLE_JOB, "timeout": 0}, "timeout"),
        ({"src": EXAMPLE_JOB, "wait": False, "dest": "/tmp/x"}, "dest"),
        ({"src": EXAMPLE_JOB, "admin_kit": "/nonexistent/kit"}, "admin_kit"),
    ],
)
def test_bad_input_fails_before_connecting(args, field, tmp_path, capsys):
    # No federation fixture and a kit that only looks like one: these must fail before any connection.
    fake_kit = tmp_path / ADMIN
    (fake_kit / "startup").mkdir(parents=True)
    (fake_kit / "startup" / "fed_admin.json").write_text("{}")
    base = {"admin_kit": str(fake_kit), "connect_timeout": 1}
    base.update(args)
    failed, res = run_module(job_module, base, capsys)
    assert failed
    assert field in res["msg"], res["msg"]
    assert not res.get("changed")


def test_explicit_token_reused_for_edited_content_is_refused(fed, work, capsys):
    """A submit_token the user chose names one job content: the same content again is that job (no change);
    edited content under the same token is a clear error, not the old job."""
    src = job_copy(work, "tok_job")
    args = {"admin_kit": fed.admin_kit, "src": src, "submit_token": "edgefl-unit-explicit", "timeout": 180,
            "poll_interval": 1}
    failed, first = run_module(job_module, args, capsys)
    assert not failed and first["submitted"] and first["status"] == "FINISHED:COMPLETED", first
    failed, again = run_module(job_module, args, capsys)  # a finished job: its token still names it
    assert not failed and not again["changed"] and again["job_id"] == first["job_id"], again
    with open(os.path.join(src, "meta.json")) as f:
        meta = json.load(f)
    meta["name"] = "tok_job_edited"
    with open(os.path.join(src, "meta.json"), "w") as f:
        json.dump(meta, f)
    failed, edited = run_module(job_module, args, capsys)
    assert failed, edited
    assert "already used for different job content" in edited["msg"] and first["job_id"] in edited["msg"], edited


def test_a_server_config_value_only_the_control_node_sets_fails_on_the_server(fed, work, capsys, monkeypatch):
    """${VAR} in config_fed_server.conf is resolved by the server from its own environment: set on the control node
    only, the module warns and the server fails the submission (NVFLARE's bare exception, error=server_error)."""
    monkeypatch.setenv("EDGEFL_TEST_CONTROL_ONLY", "2")
    src = job_copy(work, "control_env_job",
                   lambda path: _conf_from_env(path, "config_fed_server", "EDGEFL_TEST_CONTROL_ONLY"))
    failed, res = run_module(job_module, {"admin_kit": fed.admin_kit, "src": src, "wait": False}, capsys)
    assert failed and res["error"] == "server_error" and "ConfigSubstitutionException" in res["msg"], res


def _upload_zips():
    """The files NVFLARE's admin client names with a bare uuid4 in the temporary directory (its upload zips)."""
    import re
    import tempfile

    pattern = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
    return set(n for n in os.listdir(tempfile.gettempdir()) if pattern.match(n))


@pytest.mark.parametrize("meta, connected, said", [
    ({"min_clients": 3, "deploy_map": {"app": ["@ALL"]}}, ["site-1"], "needs min_clients=3 and 1 client(s) are connected"),
    ({"min_clients": 1, "deploy_map": {"app": ["@all"]}}, ["site-1"], ""),
    ({"min_clients": 2, "deploy_map": {"app": ["server", "site-1", "site-9"]}}, ["site-1", "site-2"],
     "its deploy_map names the clients site-1, site-9, of which 1 is connected"),
    # NVFLARE's {sites: [...]} entries, and no min_clients: every site named is needed
    ({"deploy_map": {"a": [{"sites": ["server"]}], "b": [{"sites": ["site-1", "site-3"]}]}}, ["site-1"],
     "needs all of them. Start or reconnect site-3"),
    ({"min_clients": 1, "deploy_map": {"app": ["server", "site-1"]}}, ["site-1"], ""),
    # NVFLARE 2.6+'s {targets: [...]} forms
    ({"deploy_map": {"app": {"targets": ["server", "site-1", "site-2"]}}}, ["site-1"],
     "needs all of them. Start or reconnect site-2"),
    ({"min_clients": 1, "deploy_map": {"app": [{"targets": ["server"]}, "site-1"]}}, ["site-1"], ""),
    ({"min_clients": 1, "mandatory_clients": ["site-2"], "deploy_map": {"app": ["@ALL"]}}, ["site-1"],
     "its mandatory_clients site-2 are not connected"),
    # enough clients, but the resources the job asks for are not free on enough of them
    ({"min_clients": 1, "deploy_map": {"app": ["@ALL"]}, "resource_spec": {"site-1": {"num_of_gpus": 1}}},
     ["site-1"], "its resource_spec asks the sites for resources"),
])
def test_a_job_the_server_does_not_start_says_which_clients_it_waits_for(meta, connected, said):
    from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import waiting_reason

    reason = waiting_reason(meta, connected)
    assert (said in reason) if said else reason == "", reason


DEPLOYMENTS = [
    ["server", "site-1"], ["@ALL"], "site-1", {"targets": ["server", "site-1"]}, {"sites": ["server", "site-1"]},
    [{"sites": ["site-1"]}, "site-2"], [{"targets": ["site-1"]}, "site-2"], [{"sites": ["a"], "targets": ["b"]}],
    {"targets": ["a"], "sites": ["b"]}, [],
]


@pytest.mark.parametrize("deployments", DEPLOYMENTS, ids=[json.dumps(d) for d in DEPLOYMENTS])
def test_deploy_map_entries_are_read_as_nvflare_reads_them(deployments):
    """participants() against NVFLARE's own reader (the one the server's job validator and scheduler call), on every
    form its docstring lists; and a form NVFLARE refuses gives no names."""
    from nvflare.private.fed.utils.fed_utils import extract_participants

    from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import participants

    assert participants(deployments) == extract_participants(deployments)


@pytest.mark.parametrize("deployments", [{"apps": ["site-1"]}, 3, [3], [{"sites": "site-1"}], {"targets": None}])
def test_deploy_map_entries_nvflare_refuses_give_no_names(deployments):
    from nvflare.private.fed.utils.fed_utils import extract_participants

    from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import participants

    with pytest.raises(ValueError):
        extract_participants(deployments)
    assert participants(deployments) == []


def test_a_file_over_the_servers_token_hash_limit_is_submitted_once(fed, work, capsys):
    """NVFLARE 2.9's server will not hash a file over 10 MiB for a submit token, and fails such a submission with a
    bare 'exception <class ValueError> occurred'; without a token it takes the job. The module submits such a job
    with its token in the job's meta, and a re-run finds it and submits nothing.

    The job does not complete here: this federation uses NVFLARE's default scheme (http), over which a client drops
    a message over 4 MiB (aiohttp's default), so the deploy of so large an app times out (FINISHED:FAILED_TO_RUN),
    with or without the module; the module warns of it. Over grpc the same job completes."""
    from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import server_hash_limit
    from ansible_collections.edgefl.nvflare.plugins.module_utils._flare_job import http_deploy_risk

    limit = server_hash_limit()
    if not limit:  # pragma: no cover - NVFLARE before 2.8 keeps no token on the server
        pytest.skip("this NVFLARE hashes no submitted job")

    def add_big_file(dst):
        with open(os.path.join(dst, "app", "custom", "weights.bin"), "wb") as f:
            f.write(b"\0" * (limit + 1))

    src = job_copy(work, "big_job", add_big_file)
    # this federation connects over http: a client drops the deploy message of so large an app, and the module warns
    # (read from the function: in a process that loaded Ansible's controller code, a module's warnings are displayed,
    # not returned)
    assert http_deploy_risk(src, fed.admin_kit).startswith(
        "the app app of this job holds 10.0 MiB; over NVFLARE's http scheme (this federation's) a client drops")
    assert http_deploy_risk(EXAMPLE_JOB, fed.admin_kit) == ""
    args = {"admin_kit": fed.admin_kit, "src": src, "wait": False}
    failed, first = run_module(job_module, args, capsys)
    assert not failed, first.get("msg")
    assert first["changed"] and first["submitted"] and first["job_id"], first
    assert first["oversized_files"] == [os.path.join("app", "custom", "weights.bin")], first
    failed, check = run_module(job_module, args, capsys, check_mode=True)
    assert not failed and not check["changed"] and check["job_id"] == first["job_id"], check
    failed, again = run_module(job_module, args, capsys)
    assert not failed and not again["changed"] and not again["submitted"], again
    assert again["job_id"] == first["job_id"], again
    # let it end before the next test uses the federation
    _failed, done = run_module(job_module, {"admin_kit": fed.admin_kit, "job_id": first["job_id"], "timeout": 120,
                                            "poll_interval": 1}, capsys)
    assert done["status"] == "FINISHED:FAILED_TO_RUN", done
