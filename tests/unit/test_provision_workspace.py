# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The provisioning workspace's lifecycle with real NVFLARE provisioning: the lock (real processes contending),
atomic writes, runs killed with SIGKILL at each commit step, lifetimes, renew, rotate_ca, removal and re-adding,
the removal safety limit and the certificates result."""

from __future__ import annotations

import datetime
import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from conftest import COLLECTIONS, ROOT, warnings_of

from provision_files import PROJECT, cert_state, kit, project_dir, read, spec

from ansible_collections.edgefl.nvflare.plugins.module_utils import _provision
from ansible_collections.edgefl.nvflare.plugins.modules.provision import main

sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "files"))
import pki_check  # noqa: E402  pylint: disable=wrong-import-position


def state(ws):
    with open(os.path.join(project_dir(ws), "state", "edgefl_provision.json")) as f:
        return json.load(f)


def load(pem):
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem)


def assert_kits_sound(ws, names=()):
    """openssl verify against the workspace root CA + key/cert match for EVERY kit (tests/integration/files)."""
    kits, problems = pki_check.check(project_dir(ws), names)
    assert problems == [], problems
    return kits


def module_process(args, env=None):
    """Start the real module in its own process (as Ansible would): Popen with the result on stdout."""
    path = os.path.join(str(args["workspace"]) + ".args-%d.json" % time.monotonic_ns())
    with open(path, "w") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, f)
    code = "import sys; sys.argv = ['provision', sys.argv[1]]; " \
           "from ansible_collections.edgefl.nvflare.plugins.modules.provision import main; main()"
    full_env = dict(os.environ, PYTHONPATH=COLLECTIONS, **(env or {}))
    return subprocess.Popen([sys.executable, "-c", code, path], env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def result_of(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    assert out, "no module output (rc %s): %s" % (proc.returncode, err[-2000:])
    return json.loads(out)


HOLDER = """
import sys, time
from ansible_collections.edgefl.nvflare.plugins.module_utils._provision import Layout, WorkspaceLock
lock = WorkspaceLock(Layout(sys.argv[1], sys.argv[2]), play="holder play").acquire()
print("locked", flush=True)
time.sleep(float(sys.argv[3]))
"""


def hold_lock(ws, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(ws), PROJECT, str(seconds)], stdout=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=COLLECTIONS), text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture
def provisioned(tmp_path, run_module):
    ws = tmp_path / "ws"
    result = run_module(main, spec(ws))
    assert result["changed"] is True, result
    return ws, result


# ---------------------------------------------------------------- the lock


def test_lock_timeout_names_the_holder(provisioned, run_module):
    ws = provisioned[0]
    holder = hold_lock(ws, 60)
    try:
        info = _provision.read_lock_holder(os.path.join(project_dir(ws), "state", "edgefl_provision.lock"))
        assert info["pid"] == holder.pid and info["play"] == "holder play"
        t0 = time.monotonic()
        result = run_module(main, spec(ws, clients=("site-1", "site-2", "site-3"), lock_timeout=1))
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    assert result.get("failed") is True and result["field"] == "lock_timeout"
    assert "locked by another run" in result["msg"] and "pid %d" % holder.pid in result["msg"]
    assert "holder play" in result["msg"] and "nvflare_provision_lock_timeout" in result["msg"]
    assert 1 <= waited < 10
    assert not os.path.exists(kit(ws, "site-3"))
    # the kernel dropped the killed holder's lock: the next run goes through at once
    assert run_module(main, spec(ws, clients=("site-1", "site-2", "site-3"), lock_timeout=0))["added"] == ["site-3"]


def test_lock_zero_timeout_fails_at_once(provisioned, run_module):
    ws = provisioned[0]
    holder = hold_lock(ws, 60)
    try:
        t0 = time.monotonic()
        result = run_module(main, spec(ws, lock_timeout=0), check_mode=True)
        assert time.monotonic() - t0 < 5
    finally:
        holder.kill()
        holder.wait()
    assert result.get("failed") is True and "pid %d" % holder.pid in result["msg"]


def test_second_run_waits_for_the_holder(provisioned, run_module):
    ws = provisioned[0]
    holder = hold_lock(ws, 2)
    t0 = time.monotonic()
    result = run_module(main, spec(ws, clients=("site-1", "site-2", "site-3"), lock_timeout=60))
    waited = time.monotonic() - t0
    holder.wait()
    assert result["added"] == ["site-3"], result
    assert waited >= 1.5
    texts = " ".join(warnings_of(result))
    assert "locked by pid %d" % holder.pid in texts and "waited" in texts
    # released: the lock file no longer names a holder
    assert read(os.path.join(project_dir(ws), "state", "edgefl_provision.lock")) == b""


def test_two_processes_adding_a_client_each(provisioned):
    """Two real module processes on one workspace: the second waits for the first; both clients end up there."""
    ws = provisioned[0]
    lock = os.path.join(project_dir(ws), "state", "edgefl_provision.lock")
    first = module_process(spec(ws, clients=("site-1", "site-2", "site-3")))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = _provision.read_lock_holder(lock)
        if info and info.get("pid") == first.pid:
            break
        time.sleep(0.02)
    second = module_process(spec(ws, clients=("site-1", "site-2", "site-3", "site-4")))
    r1, r2 = result_of(first), result_of(second)
    assert r1["added"] == ["site-3"] and r2["added"] == ["site-4"], (r1, r2)
    everyone = ["admin@nvidia.com", "server1", "site-1", "site-2", "site-3", "site-4"]
    assert sorted(state(ws)["participants"]) == everyone
    assert assert_kits_sound(ws, ["site-3", "site-4"]) == everyone


def test_check_mode_on_a_fresh_workspace_takes_no_lock(tmp_path, run_module):
    result = run_module(main, spec(tmp_path / "ws"), check_mode=True)
    assert result["changed"] is True and not os.path.exists(str(tmp_path / "ws"))


def test_first_run_creates_missing_parents_0700(tmp_path, run_module):
    ws = tmp_path / "a" / "b" / "ws"
    assert run_module(main, spec(ws))["changed"] is True
    for path in (ws, ws / PROJECT, ws / PROJECT / "state"):
        assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o700


# ---------------------------------------------------------------- atomic writes


def test_atomic_write_replaces_whole_files(tmp_path):
    path = str(tmp_path / "cert.json")
    _provision.atomic_write_json(path, {"a": 1})
    _provision.atomic_write_json(path, {"a": 2})
    assert json.loads(read(path)) == {"a": 2}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(str(tmp_path)) == ["cert.json"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / "cert.json")
    _provision.atomic_write_json(path, {"a": 1})

    def boom(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_provision.os, "replace", boom)
    with pytest.raises(OSError):
        _provision.atomic_write_json(path, {"a": 2})
    assert json.loads(read(path)) == {"a": 1}
    assert os.listdir(str(tmp_path)) == ["cert.json"]  # no temp file left


def test_atomic_symlink(tmp_path):
    link = str(tmp_path / "kit")
    _provision.atomic_symlink("../prod_00/kit", link)
    _provision.atomic_symlink("../prod_01/kit", link)
    assert os.readlink(link) == "../prod_01/kit"
    assert os.listdir(str(tmp_path)) == ["kit"]


# ---------------------------------------------------------------- killed runs

CRASH_POINTS = ["after-nvflare", "after-cert-json", "after-prod-rename", "mid-links"]
MANY = tuple("site-%d" % i for i in range(1, 13))


@pytest.mark.parametrize("operation", ["add", "renew", "rotate_ca"])
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_run_killed_at_each_step_is_finished_by_the_next(provisioned, run_module, point, operation):
    ws = provisioned[0]
    args = {"add": spec(ws, clients=MANY), "renew": spec(ws, renew=True),
            "rotate_ca": spec(ws, rotate_ca=True)}[operation]
    proc = module_process(args, env={"EDGEFL_PROVISION_CRASH_AT": point})
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    repair_args = dict(args, renew=False, rotate_ca=False)
    result = run_module(main, repair_args)
    assert "failed" not in result, result
    wanted = sorted(result["kits"])
    assert assert_kits_sound(ws, wanted) == wanted
    assert not os.path.exists(os.path.join(project_dir(ws), ".staging"))
    assert sorted(state(ws)["participants"]) == wanted
    again = run_module(main, repair_args)
    assert again["changed"] is False, again["reasons"]


def test_removal_killed_after_recording_is_finished(provisioned, run_module):
    ws = provisioned[0]
    proc = module_process(spec(ws, clients=("site-1",)), env={"EDGEFL_PROVISION_CRASH_AT": "after-removal-state"})
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert "site-2" in cert_state(ws)  # killed before the key went
    result = run_module(main, spec(ws, clients=("site-1",)))
    assert result["changed"] is True and result["removed_all"] == ["site-2"]
    assert "site-2" not in cert_state(ws)
    assert not os.path.exists(os.path.join(project_dir(ws), "prod_00", "site-2", "startup", "client.key"))
    assert run_module(main, spec(ws, clients=("site-1",)))["changed"] is False


def test_a_kit_the_state_does_not_know_is_rebuilt(provisioned, run_module):
    """A kit whose certificate is not the recorded one (e.g. an old prod_NN copy linked back) is rebuilt."""
    ws = provisioned[0]
    os.unlink(kit(ws, "site-1"))
    os.symlink(os.path.join("..", "prod_00", "site-2"), kit(ws, "site-1"))
    result = run_module(main, spec(ws))
    assert result["changed_participants"] == ["site-1"]
    assert "not the one recorded" in result["reasons"]["site-1"]
    assert assert_kits_sound(ws)


@pytest.mark.parametrize("damage, text", [
    (lambda d: open(os.path.join(d, "state", "cert.json"), "w").write("{not json"), "cert.json cannot be read"),
    (lambda d: os.unlink(os.path.join(d, "state", "cert.json")), "cert.json is missing"),
])
def test_corrupt_names_the_backup_way_back(provisioned, run_module, damage, text):
    ws = provisioned[0]
    damage(project_dir(ws))
    result = run_module(main, spec(ws))
    assert result.get("failed") is True and text in result["msg"]
    assert "backup.yml" in result["msg"] and "restore.yml" in result["msg"] and "nvflare_restore_force" in result["msg"]


# ---------------------------------------------------------------- renew and rotate_ca


def test_renew_reissues_under_the_same_root(tmp_path, run_module):
    ws = tmp_path / "ws"
    first = run_module(main, spec(ws, clients=("site-1", "site-2", "site-3"), cert_validity_days=30))
    run_module(main, spec(ws))  # site-3 removed: other state the renewal must keep
    before_root = cert_state(ws)["root_cert"]
    before = {n: load(read(kit(ws, n, "startup", "client.crt"))).not_valid_after_utc for n in ("site-1", "site-2")}
    result = run_module(main, spec(ws, renew=True))
    assert result["changed"] is True
    assert result["renewed"] == ["admin@nvidia.com", "server1", "site-1", "site-2"]
    assert cert_state(ws)["root_cert"] == before_root
    for n in ("site-1", "site-2"):
        after = load(read(kit(ws, n, "startup", "client.crt"))).not_valid_after_utc
        assert after - before[n] > datetime.timedelta(days=300)
        assert result["certificates"][n]["days_left"] in (364, 365)
    assert state(ws)["removed"]["site-3"]["date"]  # the removal record is kept
    assert first["certificates"]["site-3"]["days_left"] in (29, 30)
    assert assert_kits_sound(ws)
    assert run_module(main, spec(ws))["changed"] is False
    # check mode reports the renewal and writes nothing
    checked = run_module(main, spec(ws, renew=True), check_mode=True)
    assert checked["changed"] is True and checked["renewed"] and checked["certificates"] == result["certificates"]


def test_rotate_ca_retires_the_old_root(provisioned, run_module):
    ws = provisioned[0]
    old = cert_state(ws)
    result = run_module(main, spec(ws, rotate_ca=True))
    assert result["changed"] is True and result["rotated_ca"] is True
    new = cert_state(ws)
    assert new["root_cert"] != old["root_cert"] and new["root_pri_key"] != old["root_pri_key"]
    retired = result["retired_ca_dir"]
    assert os.path.dirname(retired) == os.path.join(project_dir(ws), "state", "retired")
    assert read(os.path.join(retired, "rootCA.pem")).decode() == old["root_cert"]
    assert read(os.path.join(retired, "rootCA.key")).decode() == old["root_pri_key"]
    for name in ("rootCA.pem", "rootCA.key"):
        assert stat.S_IMODE(os.stat(os.path.join(retired, name)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(retired).st_mode) == 0o700
    assert assert_kits_sound(ws) == ["admin@nvidia.com", "server1", "site-1", "site-2"]
    new_root = load(new["root_cert"].encode())
    for n in ("site-1", "site-2"):
        load(read(kit(ws, n, "startup", "client.crt"))).verify_directly_issued_by(new_root)
    assert result["certificates"]["rootCA"]["days_left"] in (3649, 3650)
    assert run_module(main, spec(ws))["changed"] is False


# ---------------------------------------------------------------- membership


def test_removed_client_cannot_come_back_by_mistake(provisioned, run_module):
    ws = provisioned[0]
    old_key = read(kit(ws, "site-2", "startup", "client.key"))
    removed = run_module(main, spec(ws, clients=("site-1",)))
    assert removed["removed"] == ["site-2"]
    assert any("site-2 was removed" in w for w in warnings_of(removed))
    refused = run_module(main, spec(ws))
    assert refused.get("failed") is True and refused["field"] == "allow_readd"
    assert "nvflare_allow_readd=site-2" in refused["msg"] and "Remove it from the inventory" in refused["msg"]
    back = run_module(main, spec(ws, allow_readd="site-2"))
    assert back["added"] == ["site-2"] and back["removed_all"] == [] and back["reasons"]["site-2"] == "re-added"
    assert read(kit(ws, "site-2", "startup", "client.key")) != old_key  # a new key
    assert run_module(main, spec(ws))["changed"] is False
    assert assert_kits_sound(ws)


def test_remove_option_removes_a_client_still_in_the_inventory(provisioned, run_module):
    ws = provisioned[0]
    result = run_module(main, spec(ws, remove=["site-2"]))
    assert result["removed"] == ["site-2"] and "site-2" not in result["kits"]
    assert "site-2" not in cert_state(ws)
    # the same removal again changes nothing; forgetting it while site-2 is still in the inventory is refused
    assert run_module(main, spec(ws, remove="site-2"))["changed"] is False
    assert run_module(main, spec(ws)).get("failed") is True


def test_removing_an_unknown_name_is_refused(provisioned, run_module, tmp_path):
    """A typo in nvflare_remove_clients removed nothing and the run went on to the hosts; on a fresh workspace it
    provisioned a whole federation. Refused before anything is written."""
    ws = provisioned[0]
    before = sorted(os.listdir(project_dir(ws)))
    result = run_module(main, spec(ws, remove=["site-9"]))
    assert result.get("failed") is True and result["field"] == "remove", result
    assert ("site-9 is not a participant of this workspace (%s), so there is nothing to remove; nothing was changed. "
            "Give the site name (or inventory host name) of a client or relay: site-1, site-2" % project_dir(ws)
            ) in result["msg"], result["msg"]
    assert sorted(os.listdir(project_dir(ws))) == before
    fresh = tmp_path / "fresh"
    result = run_module(main, spec(fresh, remove=["site-2"]))
    assert result.get("failed") is True and result["field"] == "remove", result
    assert "(this workspace has none yet). site-2 is in the inventory but never provisioned: take it out of the " \
        "inventory instead" in result["msg"], result["msg"]
    assert not os.path.exists(os.path.join(project_dir(fresh), "state", "cert.json"))
    made = os.listdir(project_dir(fresh)) if os.path.isdir(project_dir(fresh)) else []
    assert not [p for p in made if p.startswith("prod_")], made


def test_the_server_cannot_be_removed(provisioned, run_module):
    result = run_module(main, spec(provisioned[0], remove=["server1"]))
    assert result.get("failed") is True and result["field"] == "remove"


@pytest.mark.parametrize("keep, text", [
    ((), "every client"),
    (("site-1",), "4 participants"),
])
def test_removal_safety_limit(tmp_path, run_module, keep, text):
    ws = tmp_path / "ws"
    five = ("site-1", "site-2", "site-3", "site-4", "site-5")
    run_module(main, spec(ws, clients=five))
    before = sorted(os.listdir(project_dir(ws)))
    gone = [c for c in five if c not in keep]
    result = run_module(main, spec(ws, clients=keep))
    assert result.get("failed") is True and result["field"] == "remove"
    assert text in result["msg"] and ", ".join(gone) in result["msg"] and "nvflare_remove_clients" in result["msg"]
    assert sorted(os.listdir(project_dir(ws))) == before and all(c in cert_state(ws) for c in five)
    confirmed = run_module(main, spec(ws, clients=keep, remove=",".join(gone)))
    assert confirmed["removed"] == gone


def test_three_removals_need_no_confirmation(tmp_path, run_module):
    ws = tmp_path / "ws"
    run_module(main, spec(ws, clients=("site-1", "site-2", "site-3", "site-4")))
    assert run_module(main, spec(ws, clients=("site-1",)))["removed"] == ["site-2", "site-3", "site-4"]


# ---------------------------------------------------------------- certificates result


def test_certificates_result(provisioned, run_module):
    ws = provisioned[0]
    for check_mode in (False, True):
        certs = run_module(main, spec(ws), check_mode=check_mode)["certificates"]
        assert sorted(certs) == ["admin@nvidia.com", "rootCA", "server1", "site-1", "site-2"]
        assert certs["rootCA"]["type"] == "root_ca" and certs["server1"]["type"] == "server"
        assert certs["site-1"]["type"] == "client" and certs["admin@nvidia.com"]["type"] == "admin"
        assert certs["site-1"]["days_left"] in (364, 365)
        not_after = load(read(kit(ws, "site-1", "startup", "client.crt"))).not_valid_after_utc
        assert certs["site-1"]["not_after"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    # a participant not yet provisioned has no entry in check mode
    checked = run_module(main, spec(ws, clients=("site-1", "site-2", "site-3")), check_mode=True)
    assert "site-3" not in checked["certificates"]
