# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/upgrade.yml: the plan and verify filters (module_utils/_upgrade.py), the venv swap script of
nvflare_venv (files/venv_switch.sh, run on a real venv) and the kit backup script of nvflare_service."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.upgrade_plan import upgrade_plan
from ansible_collections.edgefl.nvflare.plugins.filter.upgrade_verify import upgrade_verify
from conftest import run_playbook, unreachable_inventory

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SWITCH = os.path.join(ROOT, "roles", "nvflare_venv", "files", "venv_switch.sh")
KIT_BACKUP = os.path.join(ROOT, "roles", "nvflare_service", "files", "kit_backup.sh")


# --- upgrade_plan ---------------------------------------------------------------------------------------------

def test_plan_switches_hosts_on_another_version():
    plan = upgrade_plan({"server": {"current": "2.4.2", "staged_version": ""},
                         "site-1": {"current": "2.4.2"},
                         "site-2": {"current": "2.7.3", "staged_version": ""}}, "2.7.3")
    assert plan["switch"] == ["server", "site-1"]
    assert plan["current"] == ["site-2"]
    assert plan["from_versions"] == ["2.4.2"]
    assert plan["ok"] and not plan["downgrade"] and not plan["no_venv"]
    assert plan["msg"] == "upgrade 2 host(s) from nvflare 2.4.2 to 2.7.3: server, site-1"


def test_plan_nothing_to_do_when_every_host_runs_the_version():
    plan = upgrade_plan({"a": {"current": "2.7.3"}, "b": {"current": "2.7.3"}}, "2.7.3")
    assert plan["switch"] == [] and plan["ok"]
    assert "nothing to switch" in plan["msg"]


def test_plan_refuses_hosts_without_a_venv():
    plan = upgrade_plan({"a": {"current": "2.6.3"}, "b": {"current": ""}, "c": {}}, "2.7.3")
    assert not plan["ok"]
    assert plan["no_venv"] == ["b", "c"]
    assert "deploy them with site.yml first" in plan["msg"] and "b, c" in plan["msg"]


def test_plan_sorts_versions_numerically_and_flags_a_downgrade():
    plan = upgrade_plan({"a": {"current": "2.10.0"}, "b": {"current": "2.9.0"}}, "2.9.1")
    assert plan["from_versions"] == ["2.9.0", "2.10.0"]
    assert plan["downgrade"]
    assert plan["msg"].startswith("downgrade 2 host(s) from nvflare 2.9.0, 2.10.0 to 2.9.1")
    # a pre-release comes before its release, as pip orders them
    assert upgrade_plan({"a": {"current": "2.9.0"}}, "2.9.0rc1")["downgrade"]
    plan = upgrade_plan({"a": {"current": "2.9.0rc1"}, "b": {"current": "2.9.0rc2"}}, "2.9.0")
    assert not plan["downgrade"] and plan["from_versions"] == ["2.9.0rc1", "2.9.0rc2"]


def test_plan_resumes_the_hosts_a_killed_run_switched():
    """A run killed during the switch left the server and site-1 on the new version with their old venv kept
    (previous_version), site-2 not switched: the same command again resumes it."""
    plan = upgrade_plan({"server": {"current": "2.8.3", "previous_version": "2.9.0"},
                         "site-1": {"current": "2.8.3", "previous_version": "2.9.0", "staged_version": ""},
                         "site-2": {"current": "2.9.0", "previous_version": "", "staged_version": "2.8.3"}}, "2.8.3")
    assert plan["ok"] and plan["switch"] == ["server", "site-1", "site-2"] and plan["resume"] == ["server", "site-1"]
    assert plan["current"] == [] and plan["from_versions"] == ["2.9.0"] and plan["downgrade"]
    assert plan["msg"] == ("downgrade 3 host(s) from nvflare 2.9.0 to 2.8.3: server, site-1, site-2 (resuming an "
                           "earlier run that did not finish: server, site-1 already switched)")


def test_plan_refuses_another_version_while_an_upgrade_is_unfinished():
    plan = upgrade_plan({"server": {"current": "2.8.3", "previous_version": "2.9.0"},
                         "site-1": {"current": "2.9.0"}}, "2.7.3")
    assert not plan["ok"] and plan["resume"] == []
    assert plan["msg"] == ("an earlier upgrade that did not finish switched server to nvflare 2.8.3: run upgrade.yml "
                           "-e nvflare_version=2.8.3 first (it resumes that upgrade, or rolls it back when it fails), "
                           "then move to 2.7.3")


def test_plan_without_previous_venvs_resumes_nothing():
    plan = upgrade_plan({"a": {"current": "2.9.0", "previous_version": ""}, "b": {"current": "2.8.3"}}, "2.9.0")
    assert plan["resume"] == [] and plan["switch"] == ["b"] and plan["current"] == ["a"]


@pytest.mark.parametrize("bad", ["", "latest", "2", None, "2.7.3; rm -rf /"])
def test_plan_rejects_a_bad_version(bad):
    with pytest.raises(AnsibleFilterError, match="release such as"):
        upgrade_plan({"a": {"current": "2.6.3"}}, bad)


def test_plan_rejects_a_non_dict():
    with pytest.raises(AnsibleFilterError, match="expects a dict"):
        upgrade_plan(["a"], "2.7.3")


# --- upgrade_verify -------------------------------------------------------------------------------------------

STATUS = {"reachable": True, "client_names": ["site-1", "site-2"],
          "versions": {"server": "2.7.3", "site-1": "2.7.3", "site-2": "2.7.3"}}


def test_verify_ok_when_all_registered_with_the_version():
    res = upgrade_verify(STATUS, ["site-1", "site-2"], "2.7.3")
    assert res["ok"], res
    assert res["msg"] == "all 2 client(s) registered with nvflare 2.7.3"


def test_verify_names_missing_and_wrong_versions():
    status = dict(STATUS, client_names=["site-1"], versions={"server": "2.7.3", "site-1": "2.4.2"})
    res = upgrade_verify(status, ["site-1", "site-2"], "2.7.3")
    assert not res["ok"]
    assert res["missing"] == ["site-2"]
    assert res["wrong_version"] == {"site-1": "2.4.2"}
    assert res["unknown"] == ["site-2"]
    assert res["msg"] == "not registered: site-2; running another version: site-1 2.4.2; version unknown: site-2"


def test_verify_uses_the_hosts_venv_when_the_server_reports_no_versions():
    status = dict(STATUS, versions={})
    hosts = {"server1": "2.7.3", "site-1": "2.7.3", "site-2": "2.7.3"}
    assert upgrade_verify(status, ["site-1", "site-2"], "2.7.3", hosts)["ok"]
    # the server's report wins over the host's venv (the process that runs, not the files)
    res = upgrade_verify(dict(STATUS, versions={"site-2": "2.4.2"}), ["site-1", "site-2"], "2.7.3", hosts)
    assert res["wrong_version"] == {"site-2": "2.4.2"}
    # no version from anywhere: not verified
    res = upgrade_verify(dict(STATUS, versions={}), ["site-1", "site-2"], "2.7.3", {"site-1": "2.7.3"})
    assert not res["ok"] and res["unknown"] == ["site-2"]


def test_verify_fails_when_the_server_does_not_answer():
    res = upgrade_verify({"reachable": False, "unreachable_msg": "connection refused"}, ["site-1"], "2.7.3")
    assert not res["ok"]
    assert res["missing"] == ["site-1"]
    assert res["msg"] == "the server does not answer: connection refused"


def test_verify_falls_back_to_the_hosts_when_the_status_module_fails():
    """NVFLARE before 2.8 lacks check_status: the module fails; the clients' logs and venvs decide."""
    failed = {"failed": True, "msg": "'Session' object has no attribute 'check_status'"}
    hosts = {"server1": "2.7.3", "site-1": "2.7.3", "site-2": "2.7.3"}
    res = upgrade_verify(failed, ["site-1", "site-2"], "2.7.3", hosts, ["site-1", "site-2"])
    assert res["ok"] and res["from_logs"]
    assert res["msg"].startswith("all 2 client(s) registered with nvflare 2.7.3 (read from each client's log")
    res = upgrade_verify(failed, ["site-1", "site-2"], "2.7.3", dict(hosts, server1="2.4.2"), ["site-1"])
    assert not res["ok"]
    assert res["msg"] == "not registered: site-2; running another version: server1 2.4.2"
    # without the logs (registered unknown) a failed module is no evidence at all
    res = upgrade_verify(failed, ["site-1"], "2.7.3", hosts)
    assert not res["ok"] and not res["from_logs"]
    # a server that does not answer fails even with logs
    res = upgrade_verify({"reachable": False, "unreachable_msg": "refused"}, ["site-1"], "2.7.3", hosts, ["site-1"])
    assert not res["ok"]
    # a failure that is no missing API call: the logs do not stand in for it
    for error, msg in (("auth", "the server refused the admin login"), ("unknown_clients", "site-9 is connected"),
                       ("admin_kit", "not an admin kit"), ("server_error", "server internal error")):
        res = upgrade_verify({"failed": True, "error": error, "msg": msg}, ["site-1"], "2.7.3", hosts, ["site-1"])
        assert not res["ok"] and not res["from_logs"] and res["msg"] == "the status check failed (%s): %s" % (error, msg)


def test_verify_ignores_non_string_version_entries():
    status = dict(STATUS, versions={"site-1": "2.7.3", "site-2": "2.7.3", "junk": {"error": "timeout"}})
    assert upgrade_verify(status, ["site-1", "site-2"], "2.7.3")["ok"]


# --- venv_switch.sh on a real venv ----------------------------------------------------------------------------

def _run(script, *args):
    proc = subprocess.run(["/bin/sh", script, *args], capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout.strip().splitlines()[-1:] or [""], proc.stderr


def _make_venv(path, version):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", path], check=True)
    site = subprocess.run([os.path.join(path, "bin", "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    os.makedirs(os.path.join(site, "nvflare"))
    with open(os.path.join(site, "nvflare", "__init__.py"), "w") as f:
        f.write("__version__ = %r\n" % version)
    script = os.path.join(path, "bin", "nvflare")
    with open(script, "w") as f:
        f.write("#!%s/bin/python\nimport nvflare\nprint(nvflare.__version__)\n" % path)
    os.chmod(script, 0o755)


def _version(venv):
    out = subprocess.run([os.path.join(venv, "bin", "python"), "-c", "import nvflare, sys; print(nvflare.__version__, sys.prefix)"],
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0], out[1]


def test_venv_switch_promote_rollback_and_drop(tmp_path):
    live, staged, prev = str(tmp_path / "venv"), str(tmp_path / "venv-2.7.3"), str(tmp_path / "venv.previous")
    _make_venv(live, "2.4.2")
    _make_venv(staged, "2.7.3")

    rc, last, err = _run(SWITCH, "promote", live, staged, prev)
    assert rc == 0 and last == ["changed"], err
    assert not os.path.exists(staged)
    # the renamed venv runs from its new path, its console script too
    assert _version(live) == ("2.7.3", live)
    assert _version(prev) == ("2.4.2", prev)
    with open(os.path.join(live, "bin", "nvflare")) as f:
        assert f.readline().strip() == "#!%s/bin/python" % live
    assert os.stat(os.path.join(live, "bin", "nvflare")).st_mode & 0o777 == 0o755
    assert subprocess.run([os.path.join(live, "bin", "nvflare")], capture_output=True, text=True,
                          check=True).stdout.strip() == "2.7.3"
    with open(os.path.join(live, "pyvenv.cfg")) as f:
        assert staged not in f.read()

    # a second promote (re-run after the swap) changes nothing
    assert _run(SWITCH, "promote", live, staged, prev)[:2] == (0, ["unchanged"])

    rc, last, err = _run(SWITCH, "rollback", live, prev)
    assert rc == 0 and last == ["changed"], err
    assert _version(live) == ("2.4.2", live)
    assert not os.path.exists(prev)
    assert _run(SWITCH, "rollback", live, prev)[:2] == (0, ["unchanged"])

    os.makedirs(prev)
    assert _run(SWITCH, "drop", prev, staged)[:2] == (0, ["changed"])
    assert not os.path.exists(prev)
    assert _run(SWITCH, "drop", prev, staged)[:2] == (0, ["unchanged"])


def test_venv_switch_cleanup_drops_the_previous_and_every_staged_venv_only(tmp_path):
    """After a verified upgrade: the previous venv, this upgrade's staged name, and what a staging killed before an
    upgrade to another release left (a venv without nvflare yet); not a user's directory next to the venv."""
    live, prev = str(tmp_path / "venv"), str(tmp_path / "venv.previous")
    _make_venv(live, "2.7.3")
    _make_venv(prev, "2.4.2")
    _make_venv(live + "-2.7.3", "2.7.3")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", live + "-2.8.0rc1"], check=True)  # killed staging
    keep = [live + "-backup", live + "-2.6", live + "-notes.txt", live + "-2.5.2-old"]
    os.makedirs(keep[0])
    with open(os.path.join(keep[0], "pyvenv.cfg"), "w") as f:
        f.write("home = /usr/bin\n")
    os.makedirs(keep[1])  # a release's name, but no venv
    with open(keep[2], "w") as f:
        f.write("x")
    _make_venv(keep[3], "2.5.2")
    os.symlink(live, live + "-2.9.0")  # a link: never followed
    # a golden-venv unpack killed during a staging (venv_golden.sh unpacks into .<name>.edgefl-golden first)
    golden = str(tmp_path / ".venv-2.8.0rc1.edgefl-golden")
    os.makedirs(os.path.join(golden, "venv-2.8.0rc1", "lib"))
    keep.append(str(tmp_path / ".venv-mine.edgefl-golden"))
    os.makedirs(keep[-1])

    proc = subprocess.run(["/bin/sh", SWITCH, "cleanup", live, prev], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "changed"
    assert sorted(line for line in proc.stdout.splitlines() if line.startswith("dropped ")) == sorted([
        "dropped %s-2.7.3" % live, "dropped %s-2.8.0rc1" % live, "dropped %s" % golden])
    assert not os.path.exists(prev) and not os.path.exists(golden)
    for path in keep + [live + "-2.9.0"]:
        assert os.path.lexists(path), path
    assert _version(live) == ("2.7.3", live)
    assert _run(SWITCH, "cleanup", live, prev)[:2] == (0, ["unchanged"])


@pytest.mark.parametrize("keep", ["keep", "remove"])
def test_venv_switch_cleanup_drops_what_a_killed_install_left_in_the_wheelhouse_dir(tmp_path, keep):
    """The archives the role copies and removes once unpacked, a packed venv the control node did not fetch, and the
    unpacked wheelhouses unless they are kept; nothing else in the directory."""
    live, prev, wh = str(tmp_path / "venv"), str(tmp_path / "venv.previous"), tmp_path / "wheelhouse"
    _make_venv(live, "2.9.0")
    wh.mkdir()
    leftovers = ["nvflare-2.7.3-0123456789.tar", "venv-2.8.0rc1-afa828869e60.tar.gz", "golden-812-1700000000.tar.gz",
                 "golden-813-1700000001.tar.gz.tmp"]
    for name in leftovers:
        (wh / name).write_bytes(b"x")
    (wh / "nvflare-2.7.3-0123456789").mkdir()  # an unpacked wheelhouse
    (wh / "nvflare-2.7.3-0123456789" / "pip-26.3-py3-none-any.whl").write_bytes(b"x")
    others = ["notes.tar", "venv-mine.tar.gz", "nvflare-2.7.3-01234567.tar", "nvflare-2.7.3-012345678Z.tar",
              "nvflare-mine", "nvflare-2.9.0-0123456789.tar.bak", "golden-backup.tar.gz", "golden-12.tar.gz",
              "golden-1-2-3.tar.gz"]
    for name in others:
        if name == "nvflare-mine":
            (wh / name).mkdir()
        else:
            (wh / name).write_bytes(b"x")
    (wh / "nvflare-2.6.3-0123456789.tar").symlink_to(wh / "notes.tar")  # a link: never followed
    dropped = leftovers + ([] if keep == "keep" else ["nvflare-2.7.3-0123456789"])

    proc = subprocess.run(["/bin/sh", SWITCH, "cleanup", live, prev, str(wh), keep], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "changed"
    assert sorted(line for line in proc.stdout.splitlines() if line.startswith("dropped ")) == sorted(
        "dropped %s" % (wh / name) for name in dropped)
    assert sorted(os.listdir(wh)) == sorted(set(others + ["nvflare-2.6.3-0123456789.tar", "nvflare-2.7.3-0123456789"])
                                            - set(dropped))
    assert _version(live) == ("2.9.0", live)
    assert _run(SWITCH, "cleanup", live, prev, str(wh), keep)[:2] == (0, ["unchanged"])
    # no wheelhouse directory on the host (never installed with one): nothing to do
    assert _run(SWITCH, "cleanup", live, prev, str(tmp_path / "none"), "remove")[:2] == (0, ["unchanged"])
    assert _run(SWITCH, "cleanup", live, prev, str(wh))[0] == 2


def test_venv_switch_refuses_a_missing_or_broken_stage(tmp_path):
    live, staged, prev = str(tmp_path / "venv"), str(tmp_path / "venv-2.7.3"), str(tmp_path / "venv.previous")
    _make_venv(live, "2.4.2")
    rc, _last, err = _run(SWITCH, "promote", live, staged, prev)
    assert rc == 1 and "no staged venv" in err
    os.makedirs(staged)
    rc, _last, err = _run(SWITCH, "promote", live, staged, prev)
    assert rc == 1 and "has no bin/python" in err
    # nothing moved
    assert _version(live) == ("2.4.2", live) and not os.path.exists(prev)
    assert _run(SWITCH, "bogus")[0] == 2


# --- kit_backup.sh ---------------------------------------------------------------------------------------------

def test_kit_backup_save_restore_drop(tmp_path):
    ws = tmp_path / "site-1"
    (ws / "startup").mkdir(parents=True)
    (ws / "local").mkdir()
    (ws / "job-123").mkdir()
    key = ws / "startup" / "client.key"
    key.write_text("old key")
    key.chmod(0o600)
    (ws / "local" / "resources.json").write_text("{}")
    bak = str(ws / ".edgefl-upgrade-previous")

    assert _run(KIT_BACKUP, "save", str(ws), bak)[:2] == (0, ["changed"])
    assert stat.S_IMODE(os.stat(bak).st_mode) == 0o700
    assert not os.path.exists(os.path.join(bak, "job-123"))

    # the new version's kit: a changed key and a file the old kit did not have
    key.write_text("new key")
    (ws / "startup" / "new_file.json").write_text("{}")
    assert _run(KIT_BACKUP, "restore", str(ws), bak)[:2] == (0, ["changed"])
    assert key.read_text() == "old key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not (ws / "startup" / "new_file.json").exists()
    assert (ws / "local" / "resources.json").exists() and (ws / "job-123").is_dir()

    assert _run(KIT_BACKUP, "drop", bak)[:2] == (0, ["changed"])
    assert _run(KIT_BACKUP, "drop", bak)[:2] == (0, ["unchanged"])
    # restore without a backup changes nothing
    assert _run(KIT_BACKUP, "restore", str(ws), bak)[:2] == (0, ["unchanged"])
    rc, _last, err = _run(KIT_BACKUP, "save", str(tmp_path / "nokit"), bak)
    assert rc == 1 and "no kit" in err


# --- venv_probe.py: the packages an older host Python needs (bullseye: pip imports distutils) -------------------

def _load_probe():
    import importlib.util
    spec = importlib.util.spec_from_file_location("venv_probe_upgrade", os.path.join(ROOT, "roles", "nvflare_venv", "files",
                                                                                     "venv_probe.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("version_info, expected", [
    ((3, 9, 2), ["jq", "python3-distutils"]),
    ((3, 8, 10), ["jq", "python3-distutils"]),
    ((3, 10, 0), ["jq"]),
    ((3, 11, 2), ["jq"]),
])
def test_probe_adds_distutils_below_python_310(version_info, expected):
    probe = _load_probe()
    args = {"packages": ["jq"], "old_python_packages": ["python3-distutils"]}
    assert probe.wanted_packages(args, version_info) == expected
    # no duplicate when the user lists it already, and no key at all (older callers) adds nothing
    assert probe.wanted_packages({"packages": ["python3-distutils"], "old_python_packages": ["python3-distutils"]},
                                 (3, 9, 2)) == ["python3-distutils"]
    assert probe.wanted_packages({"packages": []}, (3, 9, 2)) == []


def test_probe_reports_the_effective_packages(tmp_path):
    """The real script on this interpreter: `packages` is what the apt task installs."""
    import json as _json
    args = {"user": "nobody-edgefl", "group": "nogroup-edgefl", "home": str(tmp_path / "home"), "parent": str(tmp_path),
            "venv": str(tmp_path / "venv"), "python_bin": str(tmp_path / "venv" / "bin" / "python"),
            "marker": str(tmp_path / "m"), "marker_content": "{}", "version": "2.7.3", "packages": [],
            "old_python_packages": ["python3-distutils"], "packages_marker": str(tmp_path / "pm"),
            "min_python": "3.8", "max_python": "3.14"}
    out = subprocess.run([sys.executable, os.path.join(ROOT, "roles", "nvflare_venv", "files", "venv_probe.py"),
                          _json.dumps(args)], capture_output=True, text=True, check=True).stdout
    res = _json.loads(out)
    assert res["packages"] == ([] if sys.version_info >= (3, 10) else ["python3-distutils"])
    assert res["missing_packages"] == list(res["packages"])


@pytest.mark.parametrize("book", ["site.yml", "playbooks/deploy.yml", "playbooks/add_client.yml",
                                  "playbooks/remove_client.yml", "playbooks/renew_certs.yml", "playbooks/rotate_ca.yml",
                                  "playbooks/start.yml", "playbooks/restart.yml"])
def test_a_deploy_stops_while_an_upgrade_did_not_finish(tmp_path, book):
    """A killed upgrade.yml leaves the old workspace aside and hosts on either version: a deploy would install the
    inventory's version on the switched ones. It stops in its first play, before any host is contacted, and says
    to run upgrade.yml again (which resumes it)."""
    ws = unreachable_inventory(tmp_path)
    (ws / ".fed.upgrade-previous").mkdir(parents=True)
    proc = run_playbook(tmp_path, "-i", "inv.yml", os.path.join(ROOT, book), "-e", "nvflare_add_clients=c1",
                        "-e", "nvflare_remove_clients=c1", timeout=120)
    out = " ".join(proc.stdout.split())
    assert proc.returncode != 0, proc.stdout
    assert ("An upgrade did not finish: %s/.fed.upgrade-previous holds the provisioning workspace from before it"
            % ws) in out, out
    assert "Run playbooks/upgrade.yml -e nvflare_version=<the version it moved to> again" in out, out
    assert "UNREACHABLE" not in proc.stdout and "Bootstrap" not in proc.stdout, proc.stdout
    assert sorted(os.listdir(ws)) == [".fed.upgrade-previous"]  # no lock file, no kit


@pytest.mark.parametrize("book", ["site.yml", "playbooks/rotate_ca.yml"])
def test_a_deploy_stops_while_a_rollback_did_not_reach_every_host(tmp_path, book):
    """upgrade.yml killed after its rollback put the old project back and before every host was rolled back: the
    new version's project is still aside (upgrade_keep.sh restore keeps it until done), hosts run either version."""
    ws = unreachable_inventory(tmp_path)
    (ws / "fed" / "state").mkdir(parents=True)
    (ws / ".fed.upgrade-previous.failed" / "state").mkdir(parents=True)
    proc = run_playbook(tmp_path, "-i", "inv.yml", os.path.join(ROOT, book), timeout=120)
    out = " ".join(proc.stdout.split())
    assert proc.returncode != 0, proc.stdout
    assert ("An upgrade did not finish: %s/.fed.upgrade-previous.failed holds the provisioning workspace of the "
            "version it moved to (its rollback was stopped before every host was rolled back)" % ws) in out, out
    assert "UNREACHABLE" not in proc.stdout and "Bootstrap" not in proc.stdout, proc.stdout
    assert sorted(os.listdir(ws)) == [".fed.upgrade-previous.failed", "fed"]
