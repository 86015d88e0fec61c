# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real provisioning with every NVFLARE minor line 2.4-2.9, each from its own cached venv.

For each version: playbooks/provision.yml from an inventory (the provision task runs under
nvflare_control_python = that venv's python), a no-change re-run that writes nothing, adding one
client leaves every other kit byte-identical, state modes 0700/0600; the manual guide's project.yml
(api_version 3, overseer agent, separate admin port) through the module's runner in that venv; and
the clear errors for what a version cannot provision. The admin kit as the nvflare_admin role rewrites it
loads with each version's own admin client code. For the lines no scenario runs on hosts (2.5, 2.6, 2.8), a
local federation: the server and a client started with the service unit's command from that version's venv,
then the wait_clients, status and job modules under that version's Python until the job completes.

The venvs come from scripts/nvflare-venv.sh (cached under ${EDGEFL_NV_CACHE:-~/.cache/edgefl}; a second
run downloads nothing). EDGEFL_NV_VERSIONS="2.4.2 2.9.0" narrows the set.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import warnings

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
# the unit tests' local federation helpers (no nvflare import at module level) and the provision driver's
# minimal module object (the admin_kit module needs the same)
sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))
from flare_local_federation import free_port, service_command  # noqa: E402  pylint: disable=wrong-import-position
from provision_driver import _Module  # noqa: E402  pylint: disable=wrong-import-position
from tree_snapshot import snapshot_without_lock as snapshot  # noqa: E402  pylint: disable=wrong-import-position
DRIVER = os.path.join(HERE, "provision_driver.py")
GUIDE = os.path.join(HERE, "fixtures", "guide-project.yml")
VERSIONS = os.environ.get("EDGEFL_NV_VERSIONS", "2.4.2 2.5.2 2.6.3 2.7.3 2.8.3 2.9.0").split()


def minor(version):
    return tuple(int(x) for x in version.split(".")[:2])


@pytest.fixture(scope="session")
def venvs():
    """{version: python} made (or found) by scripts/nvflare-venv.sh."""
    out = {}
    for version in VERSIONS:
        proc = subprocess.run([os.path.join(ROOT, "scripts", "nvflare-venv.sh"), version], capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        out[version] = proc.stdout.strip().splitlines()[-1]
    return out


def kit_tree(project_dir, name):
    """{path inside the kit: sha256} of kits/<name> (followed through the link)."""
    kit = os.path.realpath(os.path.join(project_dir, "kits", name))
    out = {}
    for dirpath, _dirs, files in os.walk(kit):
        for fn in files:
            full = os.path.join(dirpath, fn)
            with open(full, "rb") as f:
                out[os.path.relpath(full, kit)] = hashlib.sha256(f.read()).hexdigest()
    return out


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def check_modes(project_dir):
    state = os.path.join(project_dir, "state")
    assert mode(project_dir) == 0o700 and mode(state) == 0o700
    for fn in os.listdir(state):
        if os.path.isfile(os.path.join(state, fn)):
            assert mode(os.path.join(state, fn)) == 0o600, fn
    for name in os.listdir(os.path.join(project_dir, "kits")):
        startup = os.path.join(project_dir, "kits", name, "startup")
        keys = [fn for fn in os.listdir(startup) if fn.endswith(".key")]
        assert keys, name
        for fn in keys:
            assert mode(os.path.join(startup, fn)) & 0o077 == 0, (name, fn, oct(mode(os.path.join(startup, fn))))


def write_inventory(path, clients):
    inv = {
        "nvflare_server": {"hosts": {"server1": {"ansible_host": "10.89.70.10", "nvflare_address": "10.89.70.10"}}},
        "nvflare_clients": {"hosts": dict((c, {"ansible_host": "10.89.70.%d" % (11 + i)})
                                          for i, c in enumerate(clients))},
        "all": {"vars": {"nvflare_project_name": "edgefl", "nvflare_org": "nvidia",
                         "nvflare_admins": [{"name": "admin@nvidia.com", "org": "nvidia", "role": "project_admin"}]}},
    }
    with open(path, "w") as f:
        yaml.safe_dump(inv, f)


def playbook(inventory, workspace, version, python):
    """ansible-playbook playbooks/provision.yml; returns (rc, the provision task's result, output)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_NOCOLOR="1")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
           os.path.join(ROOT, "playbooks", "provision.yml"), "-e", "nvflare_version=%s" % version,
           "-e", "nvflare_control_python=%s" % python, "-e", "nvflare_workspace=%s" % workspace]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    out = json.loads(proc.stdout)
    result = None
    for play in out["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == "Provision startup kits for every inventory participant":
                result = task["hosts"]["localhost"]
    return proc.returncode, result, proc.stdout[-3000:] + proc.stderr[-2000:]


def driver(python, **args):
    proc = subprocess.run([python, DRIVER, json.dumps(args)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("version", VERSIONS)
def test_inventory_provisioning(version, venvs, tmp_path):
    """Inventory input through playbooks/provision.yml under the version's own Python."""
    python = venvs[version]
    inventory = str(tmp_path / "hosts.yml")
    ws = str(tmp_path / "ws")
    project = os.path.join(ws, "edgefl")
    write_inventory(inventory, ["site-1", "site-2"])
    rc, res, out = playbook(inventory, ws, version, python)
    assert rc == 0 and res and res.get("changed") is True, out
    assert res["nvflare_version"] == version
    assert sorted(res["kits"]) == ["admin@nvidia.com", "server1", "site-1", "site-2"]
    check_modes(project)
    with open(os.path.join(project, "state", "edgefl_provision.json")) as f:
        assert json.load(f)["nvflare_version"] == version
    with open(os.path.join(project, "kits", "site-1", "startup", "fed_client.json")) as f:
        fed_client = json.load(f)
    if minor(version) <= (2, 6):
        # that line's own sample: the DummyOverseerAgent tells the client where the server is
        assert fed_client["overseer_agent"]["args"]["sp_end_point"] == "server1:8002:8003"
    if minor(version) < (2, 6):
        assert any("has no server host_names" in w for w in res.get("warnings", [])), res.get("warnings")
    else:
        assert not res.get("warnings")

    # a no-change re-run writes nothing (state bytes and mtimes included)
    before = snapshot(ws)
    rc, res, out = playbook(inventory, ws, version, python)
    assert rc == 0 and res["changed"] is False, out
    assert snapshot(ws) == before

    # one more client: only its kit is new, every other kit byte-identical
    kits = dict((n, kit_tree(project, n)) for n in ("server1", "site-1", "site-2", "admin@nvidia.com"))
    write_inventory(inventory, ["site-1", "site-2", "site-3"])
    rc, res, out = playbook(inventory, ws, version, python)
    assert rc == 0 and res["changed"] is True and res["added"] == ["site-3"], out
    assert res["changed_participants"] == []
    for name, tree in kits.items():
        assert kit_tree(project, name) == tree, name
    assert os.path.isfile(os.path.join(project, "kits", "site-3", "startup", "client.key"))
    check_modes(project)


@pytest.mark.parametrize("version", VERSIONS)
def test_guide_project_file(version, venvs, tmp_path):
    """The manual guide's api_version 3 project.yml (overseer agent, separate admin port)."""
    python = venvs[version]
    ws = str(tmp_path / "ws")
    project = os.path.join(ws, "jetson_fl")
    res = driver(python, workspace=ws, project_file=GUIDE, nvflare_version=version, ca_validity_days=400,
                 cert_validity_days=30)
    assert not res.get("failed") and res["changed"] is True, res.get("msg")
    # our lifetimes on every line (NVFLARE before 2.9 issues everything for 360 days)
    assert res["certificates"]["rootCA"]["days_left"] == 399
    assert res["certificates"]["jetson-nano-1"]["days_left"] == 29
    assert sorted(res["kits"]) == ["admin@nvidia.com", "fl-server", "jetson-nano-1", "jetson-nano-2"]
    with open(os.path.join(project, "kits", "fl-server", "startup", "fed_server.json")) as f:
        fed_server = json.load(f)
    assert fed_server["servers"][0]["admin_port"] == 8003
    check_modes(project)
    before = snapshot(ws)
    res = driver(python, workspace=ws, project_file=GUIDE, nvflare_version=version)
    assert not res.get("failed") and res["changed"] is False, res.get("msg")
    assert snapshot(ws) == before
    # the guide's third board, added to the file
    with open(GUIDE) as f:
        data = yaml.safe_load(f)
    data["participants"].insert(3, {"name": "jetson-nano-3", "type": "client", "org": "nvidia"})
    grown = str(tmp_path / "project.yml")
    with open(grown, "w") as f:
        yaml.safe_dump(data, f)
    kits = dict((n, kit_tree(project, n)) for n in ("fl-server", "jetson-nano-1", "jetson-nano-2", "admin@nvidia.com"))
    res = driver(python, workspace=ws, project_file=grown, nvflare_version=version)
    assert not res.get("failed") and res["added"] == ["jetson-nano-3"], res.get("msg")
    for name, tree in kits.items():
        assert kit_tree(project, name) == tree, name


# what a version cannot provision: refused before anything is written, naming the option and the version
REFUSALS = [
    ("2.5.2", {"relays": [{"name": "relay-1", "host": "10.0.0.5"}]}, "relays[0]", "need nvflare 2.6.0 or later"),
    ("2.4.2", {"connection_security": "tls"}, "server.connection_security", "nvflare 2.4.2 has no connection_security"),
    ("2.5.2", {"server": {"name": "server1", "default_host": "fl.example.com"}}, "server.default_host",
     "nvflare 2.5.2 has no default_host"),
    ("2.6.3", {"server": {"name": "server1", "fed_learn_port": 8002, "admin_port": 8002}}, "server.admin_port",
     "one shared port needs nvflare 2.7 or later"),
    ("2.7.3", {"api_version": 4}, "api_version", "api_version 4 needs nvflare 2.8 or later"),
    # a 2.4 builder NVFLARE 2.6 removed
    ("2.6.3", {"builder": "nvflare.lighter.impl.local_static_file.LocalStaticFileBuilder"}, "builders[5].path",
     "nvflare 2.6.3 cannot load it"),
]


def _builder(data, name):
    return [b for b in data["builders"] if b["path"].endswith("." + name)][0]


def _drop_builder(name):
    def change(data):
        data["builders"] = [b for b in data["builders"] if not b["path"].endswith("." + name)]
    return change


def _static_args(**args):
    def change(data):
        _builder(data, "StaticFileBuilder")["args"].update(args)
    return change


def _templates(value):
    def change(data):
        _builder(data, "WorkspaceBuilder")["args"]["template_file"] = value
    return change


def _no_agent(data):
    del _builder(data, "StaticFileBuilder")["args"]["overseer_agent"]


# the guide's project.yml changed the way a project.yml of another NVFLARE line differs: each was a traceback, or kits
# that could not reach the server, before these checks
BUILDER_REFUSALS = [
    # 2.5 and later samples list three template files; 2.4's WorkspaceBuilder takes one
    ("2.4.2", _templates(["master_template.yml", "aws_template.yml", "azure_template.yml"]), "builders",
     "nvflare 2.4.2's WorkspaceBuilder takes one template_file"),
    # 2.6 and later samples have no TemplateBuilder, which 2.4 and 2.5 need
    ("2.5.2", _drop_builder("TemplateBuilder"), "builders", "nvflare 2.5.2 needs the TemplateBuilder"),
    # 2.7 and later samples have no overseer agent: 2.4-2.6 kits then name no server at all
    ("2.6.3", _no_agent, "builders", "nvflare 2.6.3 kits find the server only through StaticFileBuilder's "
     "overseer_agent, the project has none"),
    # 2.4 and 2.5 copy the agent's end point into every kit as it is
    ("2.4.2", _static_args(overseer_agent={"path": "nvflare.ha.dummy_overseer_agent.DummyOverseerAgent",
                                           "overseer_exists": False, "args": {"sp_end_point": "fl-server:9002:9003"}}),
     "builders", "give sp_end_point: 'fl-server:8002:8003'"),
    ("2.5.2", _static_args(overseer_agent={"path": "nvflare.ha.overseer_agent.HttpOverseerAgent", "args": {}}),
     "builders", "HttpOverseerAgent needs an overseer"),
    # 2.5 copied each template file from its own folder: a FileNotFoundError traceback
    ("2.5.2", _templates(["master_template.yml", "gcp_template.yml"]), "builders[0].path",
     "nvflare 2.5.2 has no template file 'gcp_template.yml'; its own are aws_template.yml, azure_template.yml, "
     "master_template.yml"),
    # StaticFileBuilder(**kwargs) of 2.7 and later dropped the misspelt name: every sub_start.sh had no config folder
    ("2.9.0", _static_args(config_foldr="config"), "builders[2].path",
     "nvflare 2.9.0's StaticFileBuilder has no argument 'config_foldr' and would drop it without a word"),
]


@pytest.mark.parametrize("version, change, field, text", BUILDER_REFUSALS,
                         ids=["%s-%d" % (r[0], i) for i, r in enumerate(BUILDER_REFUSALS)])
def test_a_builder_list_of_another_line_is_refused(version, change, field, text, venvs, tmp_path):
    if version not in venvs:
        pytest.skip("nvflare %s not in EDGEFL_NV_VERSIONS" % version)
    with open(GUIDE) as f:
        data = yaml.safe_load(f)
    change(data)
    path = str(tmp_path / "project.yml")
    with open(path, "w") as f:
        yaml.safe_dump(data, f)
    ws = str(tmp_path / "ws")
    res = driver(venvs[version], workspace=ws, nvflare_version=version, project_file=path)
    assert res.get("failed") and res.get("field") == field, res
    assert text in res["msg"], res["msg"]
    assert not os.path.exists(ws)


def test_a_one_file_template_list_provisions_on_24(venvs, tmp_path):
    """2.5 and later write template_file as a list; 2.4 takes the one name (it was a TypeError traceback)."""
    if "2.4.2" not in venvs:
        pytest.skip("nvflare 2.4.2 not in EDGEFL_NV_VERSIONS")
    with open(GUIDE) as f:
        data = yaml.safe_load(f)
    _templates(["master_template.yml"])(data)
    path = str(tmp_path / "project.yml")
    with open(path, "w") as f:
        yaml.safe_dump(data, f)
    res = driver(venvs["2.4.2"], workspace=str(tmp_path / "ws"), nvflare_version="2.4.2", project_file=path)
    assert not res.get("failed") and res["changed"] is True, res.get("msg")
    assert os.path.isfile(os.path.join(str(tmp_path / "ws"), "jetson_fl", "kits", "jetson-nano-1", "startup",
                                       "fed_client.json"))


@pytest.mark.parametrize("version", [v for v in VERSIONS if minor(v) >= (2, 7)])
def test_a_project_file_without_admin_port_warns_what_nvflare_would_do(version, venvs, tmp_path):
    """NVFLARE 2.7+ puts an unset admin_port on fed_learn_port; the module keeps 8003 (the port the firewall role
    opens) and says so, naming the port nvflare provision of the same file gives, which is checked here."""
    with open(GUIDE) as f:
        data = yaml.safe_load(f)
    server = [p for p in data["participants"] if p["type"] == "server"][0]
    del server["admin_port"]
    path = str(tmp_path / "project.yml")
    with open(path, "w") as f:
        yaml.safe_dump(data, f)
    res = driver(venvs[version], workspace=str(tmp_path / "ws"), project_file=path, nvflare_version=version)
    assert not res.get("failed"), res.get("msg")
    warned = [w for w in res["warnings"] if "sets no admin_port" in w]
    assert len(warned) == 1 and "fed_learn_port 8002" in warned[0] and "port 8003" in warned[0], res["warnings"]
    with open(os.path.join(str(tmp_path / "ws"), "jetson_fl", "kits", "fl-server", "startup", "fed_server.json")) as f:
        assert json.load(f)["servers"][0]["admin_port"] == 8003
    cli = os.path.join(os.path.dirname(venvs[version]), "nvflare")
    proc = subprocess.run([cli, "provision", "-p", path, "-w", str(tmp_path / "cli")], capture_output=True, text=True,
                          cwd=str(tmp_path), check=False, env=dict(os.environ, HOME=str(tmp_path)))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with open(os.path.join(str(tmp_path / "cli"), "jetson_fl", "prod_00", "fl-server", "startup",
                           "fed_server.json")) as f:
        assert json.load(f)["servers"][0]["admin_port"] == 8002


def test_one_shared_port_federation_on_27(venvs, tmp_path):
    """NVFLARE 2.7's server serves the admin on fed_learn_port (fed_server.py, as 2.8's): kits with one port, the
    server and a client from 2.7.3's venv, and the admin's session finds the client."""
    version = "2.7.3"
    if version not in venvs:
        pytest.skip("nvflare %s not in EDGEFL_NV_VERSIONS" % version)
    python = venvs[version]
    ws = str(tmp_path / "ws")
    port = free_port()
    res = driver(python, workspace=ws, project_name="edgefl", nvflare_version=version,
                 server={"name": "localhost", "fed_learn_port": port, "admin_port": port},
                 clients=[{"name": "site-1"}], admins=[{"name": "admin@nvidia.com", "org": "nvidia",
                                                        "role": "project_admin"}])
    assert not res.get("failed"), res.get("msg")
    kits = os.path.join(ws, "edgefl", "kits")
    with open(os.path.join(kits, "localhost", "startup", "fed_server.json")) as f:
        assert json.load(f)["servers"][0]["admin_port"] == port
    with local_federation(kits, python, tmp_path):
        session, original = local_admin(kits, ws, tmp_path)
        assert original["admin"]["port"] == port
        out = _module(python, "edgefl.nvflare.wait_clients", dict(session, expected_clients=["site-1"], timeout=120))
        assert not out.get("failed") and out["connected_clients"] == ["site-1"], (out.get("msg"), out.get("server"))


@pytest.mark.parametrize("version, change, field, text", REFUSALS, ids=[r[2] for r in REFUSALS])
def test_refused_with_a_clear_error(version, change, field, text, venvs, tmp_path):
    if version not in venvs:
        pytest.skip("nvflare %s not in EDGEFL_NV_VERSIONS" % version)
    ws = str(tmp_path / "ws")
    if "api_version" in change or "builder" in change:
        with open(GUIDE) as f:
            data = yaml.safe_load(f)
        if "api_version" in change:
            data["api_version"] = change["api_version"]
        else:
            data["builders"].append({"path": change["builder"]})
        path = str(tmp_path / "project.yml")
        with open(path, "w") as f:
            yaml.safe_dump(data, f)
        args = {"project_file": path}
    else:
        args = dict({"project_name": "fed", "server": {"name": "server1"}, "clients": [{"name": "site-1"}]}, **change)
    res = driver(venvs[version], workspace=ws, nvflare_version=version, **args)
    assert res.get("failed") and res.get("field") == field, res
    assert res["msg"].startswith(field) and text in res["msg"], res["msg"]
    assert not os.path.exists(ws)


def test_control_python_must_have_the_wanted_version(venvs, tmp_path):
    """nvflare_version and the control-node Python disagree: the error says how to get the right venv."""
    if len(VERSIONS) < 2:
        pytest.skip("needs two versions")
    have, want = VERSIONS[0], VERSIONS[1]
    inventory = str(tmp_path / "hosts.yml")
    write_inventory(inventory, ["site-1"])
    rc, res, out = playbook(inventory, str(tmp_path / "ws"), want, venvs[have])
    assert rc != 0 and res and res.get("failed"), out
    assert "nvflare %s is installed on the control node but nvflare_version is %s" % (have, want) in res["msg"]
    assert "scripts/nvflare-venv.sh %s" % want in res["msg"] and "nvflare_control_python" in res["msg"]


ADMIN_LOAD_PROBE = r"""
import json, sys
from nvflare.fuel.sec.security_content_service import SecurityContentManager
result = SecurityContentManager(sys.argv[1] + "/startup").load_content("fed_admin.json")[1].name
secure = None
try:
    from nvflare.fuel.hci.client.config import secure_load_admin_config
except ImportError:
    pass
else:
    from nvflare.apis.workspace import Workspace
    try:
        secure_load_admin_config(Workspace(root_dir=sys.argv[1]))
        secure = "ok"
    except Exception as exc:
        secure = str(exc)
print(json.dumps({"result": result, "secure": secure}))
"""


@pytest.mark.parametrize("version", VERSIONS)
def test_rewritten_admin_kit_loads(version, venvs, tmp_path):
    """The admin role's rewrite of fed_admin.json (edgefl.nvflare.admin_kit), loaded by that version's own
    admin client code: 2.7 refuses a rewritten file unless it is signed again."""
    sys.path.insert(0, os.path.join(ROOT, "collections"))
    from ansible_collections.edgefl.nvflare.plugins.modules.admin_kit import AdminKitModule

    python = venvs[version]
    ws = str(tmp_path / "ws")
    res = driver(python, workspace=ws, project_name="edgefl", nvflare_version=version,
                 server={"name": "server1"}, clients=[{"name": "site-1"}],
                 admins=[{"name": "admin@nvidia.com", "org": "nvidia", "role": "project_admin"}])
    assert not res.get("failed"), res.get("msg")
    src = os.path.join(ws, "edgefl", "kits", "admin@nvidia.com")
    dest = str(tmp_path / "installed")
    shutil.copytree(src, dest)
    with open(os.path.join(src, "startup", "fed_admin.json")) as f:
        config = json.load(f)
    config["admin"]["host"] = "10.89.70.10"
    params = {"src": src, "dest": dest, "config": config,
              "cert_state": os.path.join(ws, "edgefl", "state", "cert.json")}
    for run in (1, 2):
        mod = _Module(params)
        out = AdminKitModule(mod).outcome()
        assert not out.get("failed") and not mod.warnings, (out, mod.warnings)
        assert out["changed"] is (run == 1), out
    signed = os.path.exists(os.path.join(src, "startup", "signature.json"))
    assert out["written"] == [], out
    # 2.6 and 2.7 sign the admin kit (2.7 refuses it unsigned); 2.4/2.5 and 2.8+ do not sign it
    assert signed is (minor(version) in ((2, 6), (2, 7))), (version, signed)
    proc = subprocess.run([python, "-c", ADMIN_LOAD_PROBE, dest], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = json.loads(proc.stdout)
    assert loaded["result"] == ("OK" if signed else "NOT_SIGNED"), loaded
    assert loaded["secure"] in (None, "ok"), loaded


# ------------------------------------------------ job folders, as each line's submit path reads them
SAG_JOB = os.path.join(ROOT, "molecule", "legacy", "files", "numpy_sag")
JOB_DRIVER = os.path.join(HERE, "job_driver.py")


def _sag_job(tmp_path, name="numpy_sag", meta=None, client_include=False):
    """The legacy scenario's ScatterAndGather job (it runs on every line) as NAME, its meta updated with META; with
    CLIENT_INCLUDE its client config included from a file next to the job's meta, outside the app."""
    job = str(tmp_path / name)
    shutil.copytree(SAG_JOB, job)
    with open(os.path.join(job, "meta.json")) as f:
        data = json.load(f)
    data.update(meta or {})
    with open(os.path.join(job, "meta.json"), "w") as f:
        json.dump(data, f)
    if client_include:
        shutil.move(os.path.join(job, "app", "config", "config_fed_client.json"), os.path.join(job, "client.conf"))
        with open(os.path.join(job, "app", "config", "config_fed_client.conf"), "w") as f:
            f.write('include "../../client.conf"\n')
    return job


def _staged(python, job):
    proc = subprocess.run([python, JOB_DRIVER, job], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("version", VERSIONS)
def test_job_folders_as_each_lines_submit_reads_them(version, venvs, tmp_path):
    """Found by comparing the module's folder check with each line's own submit path (2.4-2.9): what the module
    passes there reaches the server and runs as written, and what it refuses names the fix."""
    python = venvs[version]
    with open(os.path.join(SAG_JOB, "app", "config", "config_fed_client.json")) as f:
        client = json.load(f)
    # a space in the folder name: before 2.8 the FLARE API's "submit_job <path>" is split at it
    out = _staged(python, _sag_job(tmp_path, "my sag job"))
    assert out["ok"] and out["staged_name"] == "my-sag-job", out
    # a client config that includes a file outside its app: a client receives the app alone
    out = _staged(python, _sag_job(tmp_path, "include_job", client_include=True))
    assert out["ok"] and out["client_config"] == client, out
    # a job_id in the meta (a job downloaded from the server has one): before 2.8 it replaces that job
    for job_id in ("a-downloaded-job", "../../outside"):
        out = _staged(python, _sag_job(tmp_path, "id_job_" + job_id[-3:], meta={"job_id": job_id}))
        if minor(version) < (2, 8):
            assert not out["ok"] and "sets job_id %r" % job_id in out["msg"] and "before 2.8" in out["msg"], out
        else:
            assert out["ok"] == (job_id == "a-downloaded-job"), out
    # deploy_map forms newer than the line: named, with the list to write
    for form, since in (("@ALL", (2, 7)), ({"sites": ["@ALL"]}, (2, 7)), ([{"sites": ["@ALL"]}], (2, 6))):
        out = _staged(python, _sag_job(tmp_path, "form_job_%d%d_%s" % (since + (type(form).__name__,)),
                                       meta={"deploy_map": {"app": form}}))
        if minor(version) >= since:
            assert out["ok"], (form, out)
        else:
            assert not out["ok"] and "needs NVFLARE %d.%d or later" % since in out["msg"], (form, out)
            assert 'write a list of site names, ["@ALL"]' in out["msg"], out


# ------------------------------------------------ a local federation with each version's own runtime
# The lines no scenario runs on hosts: 2.4.2 and 2.7.3 run in molecule/legacy (Debian 11), 2.9 in every other
# scenario. NVFLARE 2.4's runtime refuses Python 3.11 (this control node's), so 2.4 runs only there.
# EDGEFL_NV_FED_VERSIONS="2.5.2 2.6.3 2.7.3 2.8.3 2.9.0" widens the set.
FED_VERSIONS = [v for v in os.environ.get("EDGEFL_NV_FED_VERSIONS", "2.5.2 2.6.3 2.8.3").split() if v in VERSIONS]


def _module(python, name, args):
    """One collection module through ansible (AnsiballZ) under that Python, as the playbooks run it."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-m", name, "-a", json.dumps(args),
         "-e", "ansible_python_interpreter=" + python],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    try:
        # the action plugins' progress lines come before the JSON document
        text = proc.stdout[proc.stdout.index("\n{") + 1:] if not proc.stdout.startswith("{") else proc.stdout
        out = json.loads(text)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError(proc.stdout[-3000:] + proc.stderr[-3000:])
    return out


@contextlib.contextmanager
def local_federation(kits, python, tmp_path):
    """The server 'localhost' and the client 'site-1' of KITS started with the service unit's command under PYTHON
    (their logs in TMP_PATH), killed on leaving."""
    procs = []
    try:
        for name, role in (("localhost", "server"), ("site-1", "client")):
            kit = os.path.realpath(os.path.join(kits, name))
            log = open(str(tmp_path / (name + ".log")), "ab")
            procs.append(subprocess.Popen(service_command(kit, role, name, python), cwd=kit, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          env=dict(os.environ, PYTHONPATH=os.path.join(kit, "local", "custom"))))
            time.sleep(3 if role == "server" else 0)
        yield procs
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)


def local_admin(kits, ws, tmp_path):
    """The admin kit of KITS rewritten to dial 127.0.0.1 and re-signed (edgefl.nvflare.admin_kit): its session
    options, and the fed_admin.json it had."""
    dest = str(tmp_path / "admin")
    shutil.copytree(os.path.join(kits, "admin@nvidia.com"), dest)
    with open(os.path.join(dest, "startup", "fed_admin.json")) as f:
        config = json.load(f)
    original = copy.deepcopy(config)
    config["admin"]["host"] = "127.0.0.1"
    sp = config["admin"].get("overseer_agent", {}).get("args", {}).get("sp_end_point")
    if sp:  # 2.4-2.6: the admin finds the server through the overseer agent (the role rewrites it too)
        config["admin"]["overseer_agent"]["args"]["sp_end_point"] = "127.0.0.1" + sp[sp.index(":"):]
    out = _module(sys.executable, "edgefl.nvflare.admin_kit",
                  {"src": os.path.join(kits, "admin@nvidia.com"), "dest": dest, "config": config,
                   "cert_state": os.path.join(ws, "edgefl", "state", "cert.json")})
    assert out.get("changed") is True and not out.get("failed"), out
    return {"admin_kit": dest, "username": "admin@nvidia.com"}, original


def _log_lines(path):
    """An NVFLARE log's lines without their ANSI colour codes."""
    with open(path, errors="replace") as f:
        for line in f:
            yield re.sub(r"\x1b\[[0-9;]*m", "", line)


def _log_time(m):
    """The time of a log line whose pattern's groups 1 and 2 are NVFLARE's "%Y-%m-%d %H:%M:%S" and milliseconds."""
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S") + datetime.timedelta(
        milliseconds=int(m.group(2)))


LAUNCH_LINE = re.compile(r"^(\S+ \S+),(\d+) - \S+ - INFO - Launch the job in process ID: (\d+)")
EXIT_LINE = re.compile(r"^(\S+ \S+),(\d+) - \S+ - INFO - run \((\S+)\): child worker process finished with RC 1")


def stillborn_job_process(client_log):
    """True when the client's job process exited with RC 1 within a second of its launch, without running.

    NVFLARE's client forks the job process with subprocess.Popen(preexec_fn=os.setsid) from a process that runs
    gRPC threads ("Other threads are currently calling into gRPC, skipping fork() handlers"); now and then, on a
    loaded machine, the child exits at once and the job fails on the server ("All clients are dead"). An
    upstream race, not something this collection does."""
    launched = None
    for line in _log_lines(client_log):
        m = LAUNCH_LINE.match(line)
        if m:
            launched = _log_time(m)
            continue
        m = EXIT_LINE.match(line)
        if m and launched and (_log_time(m) - launched).total_seconds() < 1:
            return True
    return False


SERVER_START_LINE = re.compile(r"^(\S+ \S+),(\d+) - \S+ - INFO - .*Started run: (\S+) for clients")
SERVER_EXIT_LINE = re.compile(r"^(\S+ \S+),(\d+) - \S+ - INFO - Job: (\S+) child process exit with return code (-?\d+)")


def stillborn_server_job(server_log, window=5.0):
    """True when the server's job process exited non-zero within `window` seconds of its start.

    The same fork race on the server side: the server forks the job process while its gRPC threads run, and
    now and then the child dies at once, of SIGSEGV ("child process exit with return code -11", NVFLARE 2.5.2)
    or with code 1 a second after the start (2.6.3), so the job fails before any round. A job that fails on
    its own runs its rounds first; one that fails at every start fails the retries too."""
    started = {}
    for line in _log_lines(server_log):
        m = SERVER_START_LINE.match(line)
        if m:
            started[m.group(3).rstrip(":")] = _log_time(m)
            continue
        m = SERVER_EXIT_LINE.match(line)
        if (m and m.group(4) != "0" and m.group(3) in started
                and (_log_time(m) - started[m.group(3)]).total_seconds() < window):
            return True
    return False


def job_failure_cause(tmp_path):
    """Why a job of test_local_federation_runs_a_job failed, as far as the server and client logs tell."""
    if stillborn_job_process(str(tmp_path / "site-1.log")):
        return "fork race: the client's job process exited at its launch"
    if stillborn_server_job(str(tmp_path / "localhost.log")):
        return "fork race: the server's job process died at its start"
    return "cause not recognised; the server log is in %s" % (tmp_path / "localhost.log")


def _tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as exc:
        return "(%s)" % exc


def failure_report(out, tmp_path):
    """The module's answer without noise, then the tails of the server and client logs: enough to tell an
    upstream race from a fault of ours from the CI output alone."""
    keep = {k: out.get(k) for k in ("msg", "error", "status", "job_id", "log_tail") if k in out}
    return "%s\n--- server log tail ---\n%s\n--- client log tail ---\n%s" % (
        json.dumps(keep, indent=1, default=str), _tail(str(tmp_path / "localhost.log")),
        _tail(str(tmp_path / "site-1.log")))


def test_stillborn_server_job_reads_a_death_right_after_the_start(tmp_path):
    """The detector of the server-side fork race, on the lines NVFLARE 2.5.2 and 2.6.3 wrote in failed runs."""
    job = "a3e15b8d-90e5-48ec-bd9b-556d68923656"
    start = ("2026-12-02 22:25:40,665 - JobRunner - INFO - [identity=edgefl, run=?]: Started run: %s for clients: "
             "site-1\n" % job)
    log = tmp_path / "server.log"
    log.write_text(start + "2026-12-02 22:25:42,648 - ServerEngine - INFO - Job: %s child process exit with "
                   "return code -11\n" % job)
    assert stillborn_server_job(str(log))
    # a late death is a real failure (no retry); an early non-zero exit is the race, a zero one is not
    log.write_text(start + "2026-12-02 22:26:42,648 - ServerEngine - INFO - Job: %s child process exit with "
                   "return code -11\n" % job)
    assert not stillborn_server_job(str(log))
    log.write_text(start + "2026-12-02 22:25:41,648 - ServerEngine - INFO - Job: %s child process exit with "
                   "return code 1\n" % job)
    assert stillborn_server_job(str(log))
    log.write_text(start + "2026-12-02 22:25:41,648 - ServerEngine - INFO - Job: %s child process exit with "
                   "return code 0\n" % job)
    assert not stillborn_server_job(str(log))
    # 2.6.3's start line
    log.write_text("2026-12-03 04:10:54,707 - JobRunner - INFO - [identity=server, run=?] - Started run: %s for "
                   "clients: site-1\n2026-12-03 04:10:55,813 - ServerEngine - INFO - Job: %s child process exit "
                   "with return code 1\n" % (job, job))
    assert stillborn_server_job(str(log))


@pytest.mark.parametrize("version", FED_VERSIONS)
def test_local_federation_runs_a_job(version, venvs, tmp_path):
    """Per version: kits from our provisioning, the server and a client started with the service unit's own
    command from that version's venv, the admin kit rewritten and re-signed (edgefl.nvflare.admin_kit), then
    edgefl.nvflare.wait_clients, status and job (through ansible, under that version's Python) until the job
    is FINISHED:COMPLETED. The same steps the hosts run, without containers."""
    python = venvs[version]
    if minor(version) < (2, 5) and sys.version_info >= (3, 11):
        pytest.skip("NVFLARE %s's runtime refuses Python 3.11; it runs in molecule/legacy (Debian 11)" % version)
    ws = str(tmp_path / "ws")
    fed, adm = free_port(), free_port()
    res = driver(python, workspace=ws, project_name="edgefl", nvflare_version=version,
                 server={"name": "localhost", "fed_learn_port": fed, "admin_port": adm},
                 clients=[{"name": "site-1"}],
                 admins=[{"name": "admin@nvidia.com", "org": "nvidia", "role": "project_admin"}])
    assert not res.get("failed"), res.get("msg")
    kits = os.path.join(ws, "edgefl", "kits")
    server_kit = os.path.realpath(os.path.join(kits, "localhost"))
    with open(os.path.join(server_kit, "local", "resources.json.default")) as f:
        resources = f.read().replace("/tmp/nvflare", str(tmp_path / "store"))
    with open(os.path.join(server_kit, "local", "resources.json"), "w") as f:
        f.write(resources)
    with local_federation(kits, python, tmp_path):
        session, _config = local_admin(kits, ws, tmp_path)
        out = _module(python, "edgefl.nvflare.wait_clients", dict(session, expected_clients=["site-1"], timeout=120))
        assert not out.get("failed") and out["connected_clients"] == ["site-1"], (out.get("msg"), out.get("server"))
        out = _module(python, "edgefl.nvflare.status", dict(session, expected_clients=["site-1"]))
        assert not out.get("failed") and out["client_names"] == ["site-1"], out
        job_args = dict(session, src=SAG_JOB, wait=True, timeout=300, dest=str(tmp_path / "results"))
        out = _module(python, "edgefl.nvflare.job", job_args)
        for again in (1, 2, 3):
            if not (out.get("failed") and out.get("error") == "job_failed"):
                break
            # NVFLARE ran the job and it failed on NVFLARE's side. On this loaded 2-core machine that is most often
            # NVFLARE's fork race (stillborn_job_process, stillborn_server_job); the same job again as a new
            # submission, at most three times, saying why. Four failures in a row, or any other error, fail the test.
            warnings.warn("NVFLARE %s: the job failed (%s); submitted again" % (version, job_failure_cause(tmp_path)))
            out = _module(python, "edgefl.nvflare.job", dict(job_args, submit_token="edgefl-versions-again-%d" % again))
        assert not out.get("failed") and out["status"] == "FINISHED:COMPLETED", failure_report(out, tmp_path)
        assert os.path.isdir(out["result_path"]), out
        # an explicit submit_token: the same content again is that job; edited content under it is refused
        job = str(tmp_path / "tok_job")
        shutil.copytree(SAG_JOB, job)
        tok = dict(session, src=job, submit_token="edgefl-versions-tok", wait=False)
        first = _module(python, "edgefl.nvflare.job", tok)
        assert not first.get("failed") and first["submitted"], first
        again = _module(python, "edgefl.nvflare.job", tok)
        # the token's property, whatever became of the job (the fork race may have failed it: error=job_failed)
        assert again.get("error") in (None, "job_failed") and not again["changed"], failure_report(again, tmp_path)
        assert again["job_id"] == first["job_id"], again
        with open(os.path.join(job, "meta.json")) as f:
            meta = json.load(f)
        meta["name"] = "tok_job_edited"
        with open(os.path.join(job, "meta.json"), "w") as f:
            json.dump(meta, f)
        edited = _module(python, "edgefl.nvflare.job", tok)
        assert edited.get("failed") and "already used for different job content" in edited["msg"], edited
