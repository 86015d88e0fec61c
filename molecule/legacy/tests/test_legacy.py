"""An older NVFLARE on Debian 11 hosts, then playbooks/upgrade.yml (tests run in this order).

1. the old version runs and completes the example job (a NumPy scatter-and-gather job every version since 2.4 can run)
   through playbooks/submit_job.yml (the job module under that version's own Python, nvflare_control_python);
2. an upgrade in which one client's new venv is broken on purpose fails and rolls every host back: the
   clients register again with the old version;
3. the upgrade to the new version: every host runs it, the clients registered with it, nothing is left aside;
4. the job completes again with the new version, through the re-signed admin kit (NVFLARE 2.7 refuses an admin
   kit whose fed_admin.json does not verify).
Registration is observed with the version's FLARE API directly (tests/flare_direct.py), not through the modules.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time

import numpy as np
from edgefl_testinfra import ROOT, ansible_env, scenario_admin_kit, scenario_inventory_args, upgrade_leftovers, venv_versions

JOB = os.path.join(os.path.dirname(__file__), "..", "files", "numpy_sag")
SERVER, CLIENT = "edgefl-l-server1", "edgefl-l-site-1"
HOSTS = {SERVER: "server1", CLIENT: "site-1"}
OLD = os.environ.get("EDGEFL_LEGACY_OLD", "2.4.2")
NEW = os.environ.get("EDGEFL_LEGACY_NEW", "2.7.3")
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "edgefl")
# NPModelPersistor's default model, NPTrainer adds 1.0 per round, 3 rounds
EXPECTED = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]) + 3
VENV = "/opt/nvflare/venv"


def python_of(version):
    return os.path.join(CACHE, "nv-" + version, "bin", "python")


inventory_args = scenario_inventory_args
env = ansible_env
admin_kit = scenario_admin_kit


def upgrade(*extra):
    t0 = time.time()
    proc = subprocess.run(
        ["ansible-playbook", *inventory_args(), os.path.join(ROOT, "playbooks", "upgrade.yml"), "-e", "nvflare_version=" + NEW,
         *extra],
        env=env(), capture_output=True, text=True, check=False,
    )
    print("upgrade.yml %s: rc %d in %.0f s" % (" ".join(extra), proc.returncode, time.time() - t0))
    return proc


def flare(version, *args):
    """The FLARE API of that version, called directly (tests/flare_direct.py): the job and status modules use calls
    that exist from NVFLARE 2.8 on."""
    proc = subprocess.run([python_of(version), os.path.join(os.path.dirname(__file__), "flare_direct.py"), args[0],
                           "admin@nvidia.com", admin_kit(), *args[1:]], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def wait_registered(version, timeout=120):
    t0 = time.time()
    res = None
    while time.time() - t0 < timeout:
        try:
            res = flare(version, "clients")
        except AssertionError as e:  # the server may still be starting
            res = str(e)[-300:]
        else:
            if res.get("clients") == ["site-1"]:
                return res
        time.sleep(3)
    raise AssertionError("site-1 did not register within %ss: %s" % (timeout, res))


def run_job(version, dest):
    """playbooks/submit_job.yml with that version's control Python: submit, progress lines, wait, download."""
    proc = subprocess.run(
        ["ansible-playbook", *inventory_args(), os.path.join(ROOT, "playbooks", "submit_job.yml"),
         "-e", "nvflare_version=" + version, "-e", "nvflare_control_python=" + python_of(version),
         "-e", "nvflare_submit_src=" + os.path.abspath(JOB), "-e", "nvflare_submit_dest=" + dest,
         "-e", "nvflare_submit_timeout=300"],
        env=env(), capture_output=True, text=True, check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    done = re.findall(r"\[localhost\] job (\S+): FINISHED:COMPLETED", proc.stdout)
    assert done, out[-3000:]
    model = np.load(os.path.join(dest, done[-1], "workspace", "models", "server.npy"), allow_pickle=True)
    np.testing.assert_allclose(np.asarray(model, dtype=float), EXPECTED)


def test_old_version_completes_the_job(podman_host, tmp_path):
    assert venv_versions(podman_host, HOSTS, VENV) == {"server1": OLD, "site-1": OLD}
    wait_registered(OLD)
    t0 = time.time()
    run_job(OLD, str(tmp_path))
    print("job with nvflare %s: FINISHED:COMPLETED in %.0f s" % (OLD, time.time() - t0))


def test_failed_switch_rolls_every_host_back(podman_host):
    proc = upgrade("-e", json.dumps({"nvflare_upgrade_test_break_hosts": [CLIENT], "nvflare_service_wait_timeout": 30}))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "failed and was rolled back" in out, out[-3000:]
    assert "every client registered" in out, out[-3000:]
    assert venv_versions(podman_host, HOSTS, VENV) == {"server1": OLD, "site-1": OLD}
    assert upgrade_leftovers(podman_host, HOSTS, VENV, NEW) == []
    ws = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "workspace")
    assert not os.path.exists(os.path.join(ws, ".legacy.upgrade-previous"))
    wait_registered(OLD, timeout=60)


def test_upgrade_switches_every_host(podman_host):
    proc = upgrade()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "all 1 client(s) registered with nvflare %s" % NEW in out, out[-3000:]
    assert venv_versions(podman_host, HOSTS, VENV) == {"server1": NEW, "site-1": NEW}
    assert upgrade_leftovers(podman_host, HOSTS, VENV, NEW) == []
    ws = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "workspace")
    assert not os.path.exists(os.path.join(ws, ".legacy.upgrade-previous"))
    # the client's own log: it registered with the new version's code
    wait_registered(NEW, timeout=60)
    for name in HOSTS:
        assert podman_host(name).service(
            "nvflare-server.service" if name == SERVER else "nvflare-client.service").is_running


ADMIN_LOAD = ("import sys\nfrom nvflare.apis.workspace import Workspace\n"
              "from nvflare.fuel.hci.client.config import secure_load_admin_config\n"
              "secure_load_admin_config(Workspace(root_dir=sys.argv[1]))\nprint('loaded')\n")


def test_admin_kit_on_an_admin_host_is_signed(podman_host):
    """The admin role on a host reached over a connection (the server container): the rewritten fed_admin.json is
    signed on the control node and copied; the host's NVFLARE (the new version) loads the kit; a re-run changes
    nothing; the root CA key is not on the host."""
    args = ["ansible-playbook", *inventory_args(), os.path.join(os.path.dirname(__file__), "..", "admin_host.yml"),
            "-e", "nvflare_version=" + NEW, "-e", "nvflare_control_python=" + python_of(NEW)]
    for run in (1, 2):
        proc = subprocess.run(args, env=env(), capture_output=True, text=True, check=False)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        recap = re.search(r"^%s\s*:\s*ok=\d+\s+changed=(\d+)" % SERVER, proc.stdout, re.M)
        assert recap and (int(recap.group(1)) > 0) is (run == 1), proc.stdout[-3000:]
    host = podman_host(SERVER)
    out = host.run("%s/bin/python -c %s /root/edgefl-admin" % (VENV, _quote(ADMIN_LOAD)))
    assert out.rc == 0 and "loaded" in out.stdout, out.stdout + out.stderr
    assert host.file("/root/edgefl-admin/startup/signature.json").mode == 0o600
    assert host.run("grep -rl 'PRIVATE KEY' /root/edgefl-admin | grep -v client.key").stdout == ""


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def test_new_version_completes_the_job(tmp_path):
    t0 = time.time()
    run_job(NEW, str(tmp_path))
    print("job with nvflare %s: FINISHED:COMPLETED in %.0f s" % (NEW, time.time() - t0))
