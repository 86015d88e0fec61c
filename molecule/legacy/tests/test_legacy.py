"""An older NVFLARE on Debian 11 hosts, then playbooks/upgrade.yml (tests run in this order).

1. the old version runs and completes the example job (a NumPy scatter-and-gather job every version since 2.4 can run);
2. an upgrade in which one client's new venv is broken on purpose fails and rolls every host back: the
   clients register again with the old version;
3. the upgrade to the new version: every host runs it, the clients registered with it, nothing is left aside;
4. the job completes again with the new version.
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
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


def inventory_args():
    return ["-i", os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])]


def env():
    e = dict(os.environ)
    e.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    return e


def admin_kit():
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "workspace", "admin", "admin@nvidia.com")


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


def venv_versions(podman_host):
    out = {}
    for name, site in HOSTS.items():
        out[site] = podman_host(name).check_output(
            "%s/bin/python -c 'import importlib.metadata as m; print(m.version(\"nvflare\"))'" % VENV)
    return out


def leftovers(podman_host):
    found = []
    for name, site in HOSTS.items():
        for path in (VENV + ".previous", VENV + "-" + NEW, "/var/lib/nvflare/%s/.edgefl-upgrade-previous" % site):
            if podman_host(name).file(path).exists:
                found.append("%s:%s" % (name, path))
    return found


def run_job(version):
    res = flare(version, "job", JOB, "", "300")
    assert res["status"] == "FINISHED:COMPLETED", res
    model = np.load(os.path.join(res["result_path"], "workspace", "models", "server.npy"), allow_pickle=True)
    np.testing.assert_allclose(np.asarray(model, dtype=float), EXPECTED)
    return res


def test_old_version_completes_the_job(podman_host):
    assert venv_versions(podman_host) == {"server1": OLD, "site-1": OLD}
    wait_registered(OLD)
    t0 = time.time()
    run_job(OLD)
    print("job with nvflare %s: FINISHED:COMPLETED in %.0f s" % (OLD, time.time() - t0))


def test_failed_switch_rolls_every_host_back(podman_host):
    proc = upgrade("-e", json.dumps({"nvflare_upgrade_test_break_hosts": [CLIENT], "nvflare_service_wait_timeout": 30}))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "failed and was rolled back" in out, out[-3000:]
    assert "every client registered" in out, out[-3000:]
    assert venv_versions(podman_host) == {"server1": OLD, "site-1": OLD}
    assert leftovers(podman_host) == []
    ws = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "workspace")
    assert not os.path.exists(os.path.join(ws, ".legacy.upgrade-previous"))
    wait_registered(OLD, timeout=60)


def test_upgrade_switches_every_host(podman_host):
    proc = upgrade()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "all 1 client(s) registered with nvflare %s" % NEW in out, out[-3000:]
    assert venv_versions(podman_host) == {"server1": NEW, "site-1": NEW}
    assert leftovers(podman_host) == []
    ws = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "workspace")
    assert not os.path.exists(os.path.join(ws, ".legacy.upgrade-previous"))
    # the client's own log: it registered with the new version's code
    wait_registered(NEW, timeout=60)
    for name in HOSTS:
        assert podman_host(name).service(
            "nvflare-server.service" if name == SERVER else "nvflare-client.service").is_running


def test_new_version_completes_the_job():
    t0 = time.time()
    run_job(NEW)
    print("job with nvflare %s: FINISHED:COMPLETED in %.0f s" % (NEW, time.time() - t0))
