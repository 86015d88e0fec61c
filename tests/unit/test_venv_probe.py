# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/nvflare_venv/files/venv_probe.py: the real script on temp directories, its decisions asserted."""

from __future__ import annotations

import ast
import grp
import importlib.util
import json
import os
import pwd
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "roles", "nvflare_venv", "files", "venv_probe.py")
MARKER_CONTENT = '{"requirements": ["nvflare==2.9.0"]}'
PY = "%d.%d" % sys.version_info[:2]


def load_probe():
    spec = importlib.util.spec_from_file_location("venv_probe", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def host(tmp_path):
    """Paths of a host where the role never ran (nothing exists yet under tmp_path)."""
    venv = tmp_path / "opt" / "nvflare" / "venv"
    return {
        "user": "edgefl-no-such-user",
        "group": "edgefl-no-such-group",
        "home": str(tmp_path / "home"),
        "parent": str(venv.parent),
        "venv": str(venv),
        "python_bin": str(venv / "bin" / "python"),
        "marker": str(venv / ".edgefl-requirements"),
        "marker_content": MARKER_CONTENT,
        "version": "2.9.0",
        "packages": [],
        "packages_marker": str(tmp_path / "state" / "venv-packages"),
        "min_python": "3.6",
        "max_python": "3.99",
    }


def make_venv(args, version="2.9.0", name="nvflare", marker=MARKER_CONTENT, python_bin=True):
    site = os.path.join(args["venv"], "lib", "python" + PY, "site-packages")
    dist = os.path.join(site, "%s-%s.dist-info" % (name, version))
    os.makedirs(dist)
    with open(os.path.join(dist, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: x\n\nName: not-a-header\n" % (name, version))
    # another distribution next to it must not be taken for nvflare
    other = os.path.join(site, "numpy-1.26.4.dist-info")
    os.makedirs(other)
    with open(os.path.join(other, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: numpy\nVersion: 1.26.4\n\n")
    if python_bin:
        os.makedirs(os.path.dirname(args["python_bin"]))
        with open(args["python_bin"], "w") as f:
            f.write("")
    if marker is not None:
        with open(args["marker"], "w") as f:
            f.write(marker)


def run(args):
    proc = subprocess.run(
        [sys.executable, SCRIPT, json.dumps(args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)


def test_fresh_host_everything_to_do(host):
    out = run(host)
    assert out["version"] == "%d.%d.%d" % sys.version_info[:3]
    assert out["python_ok"] is True
    assert out["machine"] and isinstance(out["libc"], list)
    assert out["nvflare"] is None
    for key in ("create_group", "update_user", "update_home", "update_parent", "create_venv", "needs_install"):
        assert out[key] is True, key
    assert out["parent_exists"] is False
    assert out["missing_packages"] == [] and out["recorded_packages"] == []


def test_venv_with_pinned_nvflare_and_marker_needs_no_install(host):
    make_venv(host)
    out = run(host)
    assert out["nvflare"] == "2.9.0"
    assert out["create_venv"] is False
    assert out["needs_install"] is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"version": "2.8.0"},  # another nvflare
        {"marker": None},  # pip never completed
        {"marker": '{"requirements": ["nvflare==2.9.0", "numpy<2"]}'},  # requirements changed
        {"name": "nvflare_other"},  # no nvflare distribution at all
        {"python_bin": False},  # broken venv: no interpreter
    ],
)
def test_install_needed(host, kwargs):
    make_venv(host, **kwargs)
    out = run(host)
    assert out["needs_install"] is True


def test_dist_name_is_normalised(host):
    make_venv(host, name="NVFlare")
    assert run(host)["nvflare"] == "2.9.0"


@pytest.mark.skipif(os.geteuid() != 0, reason="root-owned directory needs root")
@pytest.mark.parametrize("mode,update", [(0o755, False), (0o775, True), (0o700, True)])
def test_parent_mode(host, mode, update):
    os.makedirs(host["parent"])
    os.chmod(host["parent"], mode)
    out = run(host)
    assert out["parent_exists"] is True
    assert out["update_parent"] is update


def test_parent_owned_by_another_user_is_updated(host):
    os.makedirs(host["parent"])
    os.chmod(host["parent"], 0o755)
    if os.geteuid() == 0:
        os.chown(host["parent"], 1, 1)
    assert run(host)["update_parent"] is True


def test_python_range(host):
    assert run(dict(host, min_python="3.99"))["python_ok"] is False
    assert run(dict(host, max_python="3.0"))["python_ok"] is False
    # any micro release of the highest minor is accepted
    assert run(dict(host, min_python=PY, max_python=PY))["python_ok"] is True


@pytest.mark.skipif(not os.path.exists("/usr/bin/dpkg-query"), reason="needs dpkg")
def test_packages_from_dpkg(host):
    out = run(dict(host, packages=["dpkg", "edgefl-no-such-package"]))
    assert out["missing_packages"] == ["edgefl-no-such-package"]


def test_packages_without_dpkg_are_missing(host):
    probe = load_probe()
    probe.DPKG_QUERY = "/nonexistent/dpkg-query"
    out = probe.probe(dict(host, packages=["python3-venv"]))
    assert out["missing_packages"] == ["python3-venv"]


def test_recorded_packages_read_back(host):
    os.makedirs(os.path.dirname(host["packages_marker"]))
    with open(host["packages_marker"], "w") as f:
        f.write("python3-venv:amd64\npython3.11-venv:amd64")
    assert run(host)["recorded_packages"] == ["python3-venv:amd64", "python3.11-venv:amd64"]


@pytest.mark.skipif(not os.path.exists("/usr/bin/dpkg-query"), reason="needs dpkg")
def test_list_packages():
    proc = subprocess.run([sys.executable, SCRIPT, "--list-packages"], stdout=subprocess.PIPE, text=True, check=True)
    pkgs = json.loads(proc.stdout)
    assert pkgs == sorted(pkgs)
    assert any(p.startswith("dpkg:") for p in pkgs)


def test_usage_error():
    proc = subprocess.run([sys.executable, SCRIPT], stderr=subprocess.PIPE, text=True, check=False)
    assert proc.returncode == 2 and "usage" in proc.stderr


# --- user, group and home: in-process with a user database of the current uid/gid -------------


def _pw(name, gid, home, shell="/usr/sbin/nologin", gecos="NVIDIA FLARE"):
    return pwd.struct_passwd((name, "x", os.getuid(), gid, gecos, home, shell))


def _gr(name, gid):
    return grp.struct_group((name, "x", gid, []))


@pytest.mark.parametrize(
    "user_kw,group_gid,update_user",
    [
        ({}, None, False),
        ({"shell": "/bin/bash"}, None, True),
        ({"gecos": "someone"}, None, True),
        ({"home": "/elsewhere"}, None, True),
        ({}, 4242, True),  # the user's primary group is another one
    ],
)
def test_user_decision(host, user_kw, group_gid, update_user):
    probe = load_probe()
    gid = os.getgid()
    os.makedirs(host["home"])
    os.chmod(host["home"], 0o750)
    users = [_pw("nvflare", gid, **dict({"home": host["home"]}, **user_kw))]
    groups = [_gr("nvflare", group_gid if group_gid is not None else gid)]
    out = probe.probe(dict(host, user="nvflare", group="nvflare"), user_db=users, group_db=groups, packages_state={})
    assert out["create_group"] is False
    assert out["update_user"] is update_user


@pytest.mark.parametrize(
    "user_kw,uid,refused",
    [
        ({}, None, ""),  # the role's own account, as it made it
        ({"shell": "/bin/bash"}, None, ""),  # the role's (its comment), changed by hand: the role sets it back
        ({"gecos": "Ubuntu,,,", "shell": "/bin/bash", "home": "/home/ubuntu"}, None, "existing account that this role did not create"),
        ({"gecos": "www-data", "home": "/var/www"}, None, "existing account that this role did not create"),
        ({"gecos": "root", "shell": "/bin/bash", "home": "/root"}, 0, "is uid 0 (root)"),
        ({"gecos": "root", "home": "/root"}, 0, "is uid 0 (root)"),
    ],
)
def test_an_account_the_role_did_not_create_is_refused(host, user_kw, uid, refused):
    """setup() would change the account's home, group and shell (nologin): never on root, nor on an account the role
    did not make, such as the device's login user, which that would lock out; the message says how to proceed."""
    probe = load_probe()
    gid = os.getgid()
    os.makedirs(host["home"])
    os.chmod(host["home"], 0o750)
    entry = dict({"home": host["home"]}, **user_kw)
    user = pwd.struct_passwd(("someone", "x", 4242 if uid is None else uid, gid,
                              entry.get("gecos", "NVIDIA FLARE"), entry["home"], entry.get("shell", "/usr/sbin/nologin")))
    out = probe.probe(dict(host, user="someone", group="nvflare"), user_db=[user], group_db=[_gr("nvflare", gid)],
                      packages_state={})
    if not refused:
        assert out["user_error"] == ""
        return
    assert refused in out["user_error"] and "'someone'" in out["user_error"], out["user_error"]
    if uid is None:
        # how to take the account on purpose: the settings the probe then finds as the role's own
        assert ("usermod --home %s --gid nvflare --shell /usr/sbin/nologin --comment 'NVIDIA FLARE' someone"
                % host["home"]) in out["user_error"]
        fixed = pwd.struct_passwd(("someone", "x", 4242, gid, "NVIDIA FLARE", host["home"], "/usr/sbin/nologin"))
        again = probe.probe(dict(host, user="someone", group="nvflare"), user_db=[fixed],
                            group_db=[_gr("nvflare", gid)], packages_state={})
        assert again["user_error"] == "" and again["update_user"] is False


def test_a_missing_user_is_no_error(host):
    out = load_probe().probe(dict(host, user="nvflare", group="nvflare"), user_db=[], group_db=[], packages_state={})
    assert out["user_error"] == "" and out["update_user"] is True


@pytest.mark.parametrize("mode,update", [(0o750, False), (0o700, True), (0o755, True), (None, True)])
def test_home_decision(host, mode, update):
    probe = load_probe()
    gid = os.getgid()
    if mode is not None:
        os.makedirs(host["home"])
        os.chmod(host["home"], mode)
    out = probe.probe(
        dict(host, user="nvflare", group="nvflare"),
        user_db=[_pw("nvflare", gid, host["home"])],
        group_db=[_gr("nvflare", gid)],
        packages_state={},
    )
    assert out["update_home"] is update


def test_missing_group_means_create_and_update(host):
    probe = load_probe()
    out = probe.probe(
        dict(host, user="nvflare", group="nvflare"),
        user_db=[_pw("nvflare", 999, host["home"])],
        group_db=[],
        packages_state={},
    )
    assert out["create_group"] and out["update_user"] and out["update_home"]


def test_source_parses_as_python_36():
    """It runs on the target's nvflare_venv_python, as old as 3.6 (JetPack 4): no newer syntax."""
    with open(SCRIPT) as f:
        src = f.read()
    ast.parse(src, feature_version=(3, 6))
    for name in ("capture_output", "text=", "importlib.metadata"):
        assert name not in src.replace("no importlib.metadata", "").replace("capture_output/text", ""), name


def _converged(host):
    """host with the group, user, home, parent and venv in place (the user database of the current uid/gid)."""
    gid = os.getgid()
    os.makedirs(host["home"])
    os.chmod(host["home"], 0o750)
    make_venv(host)
    os.chmod(host["parent"], 0o755)
    return dict(user_db=[_pw("nvflare", gid, host["home"])], group_db=[_gr("nvflare", gid)])


@pytest.mark.skipif(os.getuid() != 0, reason="the venv parent must be root's")
@pytest.mark.parametrize("change", [None, "package", "group", "user", "home", "parent", "venv"])
def test_setup_needed_when_any_platform_step_has_work(host, change):
    probe = load_probe()
    dbs = _converged(host)
    packages_state = {"python3-venv": True}
    args = dict(host, user="nvflare", group="nvflare", packages=["python3-venv"])
    if change == "package":
        packages_state = {}
    elif change == "group":
        dbs["group_db"] = []
    elif change == "user":
        dbs["user_db"] = [_pw("nvflare", os.getgid(), host["home"], shell="/bin/bash")]
    elif change == "home":
        os.chmod(host["home"], 0o755)
    elif change == "parent":
        os.chmod(host["parent"], 0o775)
    elif change == "venv":
        os.remove(host["python_bin"])
    out = probe.probe(args, packages_state=packages_state, **dbs)
    assert out["setup_needed"] is (change is not None)


# --setup: what the probe decided, done. The group and user commands are recorded (the tests do not add users to
# the machine); the directories, the marker and the venv are real.
def setup_args(host, tmp_path, decision, **over):
    args = {k: host[k] for k in ("user", "group", "home", "parent", "venv", "python_bin")}
    args.update(python=sys.executable, without_pip=True, state_dir=str(tmp_path / "state"),
                parent_marker=str(tmp_path / "state" / "venv-parent"))
    args.update({k: decision[k] for k in ("create_group", "update_user", "update_home", "update_parent",
                                          "parent_exists", "create_venv")})
    args.update(over)
    return args


def test_setup_on_a_fresh_host_does_every_step_the_probe_decided(host, tmp_path):
    mod = load_probe()
    decision = run(host)
    commands = []
    me = (os.getuid(), os.getgid())
    args = setup_args(host, tmp_path, decision)
    done = mod.setup(args, run=commands.append, users=[], ids=lambda user, group: me)
    assert done == ["group", "user", "home", "parent", "parent_marker", "venv"]
    assert commands[0] == ["groupadd", "--system", host["group"]]
    assert commands[1] == ["useradd", "--system", "--home-dir", host["home"], "--no-create-home", "--gid",
                           host["group"], "--shell", "/usr/sbin/nologin", "--comment", "NVIDIA FLARE", host["user"]]
    assert commands[2] == [sys.executable, "-m", "venv", "--without-pip", host["venv"]]
    home = os.stat(host["home"])
    assert (oct(home.st_mode & 0o7777), home.st_uid, home.st_gid) == (oct(0o750), me[0], me[1])
    parent = os.stat(host["parent"])
    assert (oct(parent.st_mode & 0o7777), parent.st_uid, parent.st_gid) == (oct(0o755), 0, 0)
    with open(args["parent_marker"]) as f:
        assert f.read() == host["parent"] + "\n"
    assert oct(os.stat(args["parent_marker"]).st_mode & 0o7777) == oct(0o644)


def test_setup_of_an_existing_user_modifies_it(host, tmp_path):
    mod = load_probe()
    commands = []
    decision = dict(run(host), create_group=False, update_home=False, update_parent=False, parent_exists=True,
                    create_venv=False)
    done = mod.setup(setup_args(host, tmp_path, decision), run=commands.append, users=[host["user"]])
    assert done == ["user"]
    assert commands == [["usermod", "--home", host["home"], "--gid", host["group"], "--shell", "/usr/sbin/nologin",
                         "--comment", "NVIDIA FLARE", host["user"]]]
    assert not os.path.exists(str(tmp_path / "state"))


def test_setup_creates_a_real_venv_and_the_probe_then_finds_nothing_to_set_up(host, tmp_path):
    # the real script, as the role runs it; the group and user steps left out (they would change this machine)
    decision = run(host)
    args = setup_args(host, tmp_path, decision, create_group=False, update_user=False, update_home=False)
    proc = subprocess.run([sys.executable, SCRIPT, "--setup", json.dumps(args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == {"changed": ["parent", "parent_marker", "venv"]}
    after = run(host)
    assert after["create_venv"] is False and after["update_parent"] is False and after["parent_exists"] is True
    # the flags as Ansible may template them (text) mean the same
    again = dict(args, create_venv="False", update_parent="false", parent_exists="True")
    proc = subprocess.run([sys.executable, SCRIPT, "--setup", json.dumps(again)], stdout=subprocess.PIPE, text=True,
                          check=False)
    assert json.loads(proc.stdout) == {"changed": []}


def test_setup_failure_names_the_command_and_its_output(host, tmp_path):
    decision = run(host)
    args = setup_args(host, tmp_path, decision, create_group=False, update_user=False, update_home=False,
                      python=str(tmp_path / "no-such-python"))
    proc = subprocess.run([sys.executable, SCRIPT, "--setup", json.dumps(args)], stdout=subprocess.PIPE, text=True,
                          check=False)
    assert proc.returncode == 1
    assert proc.stdout.startswith("edgefl.nvflare.nvflare_venv: setting up the host failed:")
    assert "no-such-python" in proc.stdout
