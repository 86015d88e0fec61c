"""Verify of the federation scenario: a real federation deployed by site.yml.

The tests run in file order and build on each other (job -> faults -> job -> add_client ->
stop/start/status -> uninstall of one host compared with its fresh state -> uninstall). Hosts are checked through testinfra's podman backend; the
job/status modules and the playbooks run through Ansible on the control node, as a user would.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
JOB = os.path.join(ROOT, "playbooks", "files", "jobs", "numpy_fedavg")
SERVER = "edgefl-f-server1"
CLIENTS = ["edgefl-f-site-1", "edgefl-f-site-2", "edgefl-f-site-3"]
SPARE = "edgefl-f-site-4"
SITE = {SERVER: "server1", "edgefl-f-site-1": "site-1", "edgefl-f-site-2": "site-2", "edgefl-f-site-3": "site-3", SPARE: "site-4"}
UNIT = {SERVER: "nvflare-server.service"}
INITIAL = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
STATE = {}


def unit(name):
    return UNIT.get(name, "nvflare-client.service")


def inventory_args():
    inv_dir = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    args = ["-i", inv_dir]
    if STATE.get("extra_inventory"):
        args += ["-i", STATE["extra_inventory"]]
    return args


def env():
    e = dict(os.environ)
    e.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    return e


def workspace():
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "workspace")


def admin_kit():
    return os.path.join(workspace(), "admin", "admin@nvidia.com")


def playbook(name, *extra, check=True):
    t0 = time.time()
    proc = subprocess.run(
        ["ansible-playbook", *inventory_args(), os.path.join(ROOT, "playbooks", name), *extra],
        env=env(), capture_output=True, text=True, check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc, time.time() - t0


def module(name, args):
    """Run an edgefl.nvflare module on the control node through Ansible; return its result."""
    e = env()
    e.update(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    proc = subprocess.run(
        ["ansible", "localhost", *inventory_args(), "-m", "edgefl.nvflare." + name, "-a", json.dumps(args)],
        env=e, capture_output=True, text=True, check=False,
    )
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    return data["plays"][0]["tasks"][0]["hosts"]["localhost"]


def status(expected=None):
    return module("status", {"admin_kit": admin_kit(), "expected_clients": expected or [], "fail_unreachable": False})


def wait_all_connected(names, timeout):
    t0 = time.time()
    res = None
    while time.time() - t0 < timeout:
        res = status(names)
        if res.get("all_clients_connected"):
            return res, time.time() - t0
        time.sleep(2)
    raise AssertionError("clients %s not all connected after %ss: %s" % (names, timeout, res))


def main_pid(host, name):
    return int(host.check_output("systemctl show -p MainPID --value %s", unit(name)))


def expected_model():
    with open(os.path.join(JOB, "app", "config", "config_fed_server.json")) as f:
        rounds = json.load(f)["workflows"][0]["args"]["num_rounds"]
    return INITIAL + rounds


def run_job(token, dest):
    res = module("job", {"admin_kit": admin_kit(), "src": JOB, "submit_token": token, "dest": dest, "timeout": 600})
    assert not res.get("failed"), res.get("msg")
    assert res["status"] == "FINISHED:COMPLETED"
    model = np.load(os.path.join(res["result_path"], "workspace", "models", "server.npy"), allow_pickle=True)
    np.testing.assert_allclose(np.asarray(model, dtype=float), expected_model())
    return res


def test_services_up_and_enabled(podman_host):
    for name in [SERVER] + CLIENTS:
        svc = podman_host(name).service(unit(name))
        assert svc.is_running and svc.is_enabled, name
    server = podman_host(SERVER)
    assert server.socket("tcp://0.0.0.0:8002").is_listening or server.socket("tcp://:::8002").is_listening
    assert not podman_host(SPARE).file("/etc/systemd/system/nvflare-client.service").exists


def test_job_completes_with_expected_model(tmp_path):
    t0 = time.time()
    res = run_job("verify-first", str(tmp_path))
    STATE["job_seconds"] = round(time.time() - t0, 1)
    again = module("job", {"admin_kit": admin_kit(), "src": JOB, "submit_token": "verify-first", "dest": str(tmp_path)})
    assert not again["changed"] and again["job_id"] == res["job_id"]


def test_kill_server_systemd_restarts_and_clients_reregister(podman_host):
    server = podman_host(SERVER)
    before = status([SITE[c] for c in CLIENTS])
    old_pid = main_pid(server, SERVER)
    t0 = time.time()
    server.run("kill -9 %s", str(old_pid))
    deadline = t0 + 60
    while time.time() < deadline:
        pid = main_pid(server, SERVER)
        if pid and pid != old_pid and server.service(unit(SERVER)).is_running:
            break
        time.sleep(1)
    else:
        raise AssertionError("systemd did not restart the server within 60 s")
    while time.time() < deadline:
        res = status([SITE[c] for c in CLIENTS])
        if res.get("reachable") and res["all_clients_connected"] and res["server"]["start_time"] != before["server"]["start_time"]:
            break
        time.sleep(2)
    else:
        raise AssertionError("clients not re-registered within 60 s of kill -9: %s" % res)
    STATE["server_recovery_seconds"] = round(time.time() - t0, 1)


def test_client_container_reboot(podman_host):
    name = "edgefl-f-site-2"
    t0 = time.time()
    subprocess.run(["podman", "restart", "-t", "5", name], check=True, capture_output=True)
    host = podman_host(name)
    deadline = t0 + 120
    while time.time() < deadline:
        if host.run("systemctl is-active %s", unit(name)).stdout.strip() == "active":
            break
        time.sleep(1)
    assert host.service(unit(name)).is_enabled
    while time.time() < deadline:
        res = status([SITE[c] for c in CLIENTS])
        site = [c for c in res.get("clients", []) if c["name"] == "site-2"]
        if site and site[0]["last_connect_time"] and site[0]["last_connect_time"] > t0:
            break
        time.sleep(2)
    else:
        raise AssertionError("site-2 did not re-register after its container restarted")
    STATE["client_reboot_seconds"] = round(time.time() - t0, 1)


def test_job_after_faults(tmp_path):
    run_job("verify-after-faults", str(tmp_path))


def _kit_hashes(host, site):
    out = host.check_output("find /var/lib/nvflare/%s/startup -type f -exec sha256sum {} + | sort", site)
    return out


def test_add_client_keeps_others_untouched(podman_host, tmp_path):
    before = {c: (_kit_hashes(podman_host(c), SITE[c]), main_pid(podman_host(c), c)) for c in CLIENTS}
    kits = os.path.join(workspace(), "edgefl", "kits")
    ctl_before = {c: _dir_hash(os.path.join(kits, SITE[c])) for c in [SERVER] + CLIENTS}
    extra = tmp_path / "add.yml"
    extra.write_text("nvflare_clients:\n  hosts:\n    %s:\n" % SPARE)
    STATE["extra_inventory"] = str(extra)
    # keep the file for the tests that follow
    keep = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "add-client-inventory.yml")
    with open(keep, "w") as f:
        f.write(extra.read_text())
    STATE["extra_inventory"] = keep
    add_proc, seconds = playbook("add_client.yml", "-e", "nvflare_add_clients=" + SPARE)
    STATE["add_client_seconds"] = round(seconds, 1)
    assert "failed=0" in add_proc.stdout
    for c in CLIENTS:
        assert _kit_hashes(podman_host(c), SITE[c]) == before[c][0], "%s kit changed" % c
        assert main_pid(podman_host(c), c) == before[c][1], "%s was restarted" % c
    for c in [SERVER] + CLIENTS:
        assert _dir_hash(os.path.join(kits, SITE[c])) == ctl_before[c], "control-node kit of %s changed" % c
    res = status([SITE[c] for c in CLIENTS + [SPARE]])
    assert res["all_clients_connected"], res
    assert podman_host(SPARE).service(unit(SPARE)).is_running


def _dir_hash(path):
    digest = hashlib.sha256()
    for base, _dirs, files in sorted(os.walk(os.path.realpath(path))):
        for f in sorted(files):
            with open(os.path.join(base, f), "rb") as fh:
                digest.update(f.encode() + fh.read())
    return digest.hexdigest()


def test_stop_start_status_playbooks(podman_host):
    everyone = [SERVER] + CLIENTS + [SPARE]
    playbook("stop.yml")
    for name in everyone:
        svc = podman_host(name).service(unit(name))
        assert not svc.is_running and svc.is_enabled, name
    down = status()
    assert down["reachable"] is False
    start_proc, start_seconds = playbook("start.yml")
    STATE["start_playbook_seconds"] = round(start_seconds, 1)
    assert "failed=0" in start_proc.stdout
    for name in everyone:
        assert podman_host(name).service(unit(name)).is_running, name
    proc, status_seconds = playbook("status.yml")
    STATE["status_playbook_seconds"] = round(status_seconds, 1)
    for name in everyone:
        line = [ln for ln in proc.stdout.splitlines() if ln.strip().lstrip("-' |").startswith(SITE[name] + " ")]
        assert line, "no status line for %s:\n%s" % (name, proc.stdout[-3000:])
        assert "active" in line[0] and ("connected" in line[0] and "NOT" not in line[0] or name == SERVER), line[0]


# What the uninstall test does not compare, and why (everything else under /etc, /opt and /var/lib must be
# as in the fresh container): package manager databases and caches, which every apt run rewrites (a purge
# leaves no package of ours, checked through dpkg below); systemd's own state; the shadow-utils backup copies
# (/etc/passwd- ...: the previous version of the file, written by useradd/userdel); the dynamic linker cache
# (rebuilt by any package install/purge); the state files of the Jetson stand-ins (tests/molecule/jetson_fakes).
TREE_IGNORED = ("/var/lib/apt/", "/var/lib/dpkg/", "/var/lib/systemd/", "/var/lib/ucf/", "/var/lib/jetson-fakes",
                "/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-", "/etc/ld.so.cache")


def tree(name):
    """The host's /etc, /opt and /var/lib as tests/molecule/tree_snapshot.sh lists it: path -> attributes."""
    script = os.path.join(ROOT, "tests", "molecule", "tree_snapshot.sh")
    with open(script, encoding="utf-8") as f:
        out = subprocess.run(["podman", "exec", "-i", name, "sh", "-s"], stdin=f, capture_output=True, text=True,
                             check=True).stdout
    return parse_tree(out)


def parse_tree(text):
    rows = {}
    for line in text.splitlines():
        path, rest = line.split("\t", 1)
        if not path.startswith(TREE_IGNORED) and path.rstrip("/") + "/" not in TREE_IGNORED:
            rows[path] = rest
    return rows


def test_uninstall_refuses_an_unnamed_fleet(podman_host):
    proc = playbook("uninstall.yml", check=False)[0]
    assert proc.returncode != 0
    assert "Name the hosts with --limit" in proc.stdout, proc.stdout[-3000:]
    for name in [SERVER] + CLIENTS + [SPARE]:
        assert podman_host(name).service(unit(name)).is_running, name


def test_uninstall_one_host_leaves_it_as_fresh(podman_host):
    name = "edgefl-f-site-3"
    host = podman_host(name)
    # what the roles made on this Jetson lookalike, before
    assert host.file("/etc/systemd/system/nvflare-jetson-power.service").exists
    assert host.file("/swapfile").exists and "/swapfile" in host.file("/etc/fstab").content_string
    STATE["uninstall_one_host_seconds"] = round(playbook("uninstall.yml", "--limit", name)[1], 1)
    again = playbook("uninstall.yml", "--limit", name)[0]
    assert "changed=0" in again.stdout and "failed=0" in again.stdout, again.stdout[-3000:]
    with open(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "fresh-tree-%s.tsv" % name),
              encoding="utf-8") as f:
        fresh = parse_tree(f.read())
    now = tree(name)
    added = sorted(set(now) - set(fresh))
    removed = sorted(set(fresh) - set(now))
    changed = sorted(p for p in set(now) & set(fresh) if now[p] != fresh[p])
    assert (added, removed, changed) == ([], [], []), "not as fresh: added %s, removed %s, changed %s" % (
        added[:40], removed[:40], [(p, fresh[p], now[p]) for p in changed[:40]])
    packages = host.check_output("dpkg-query -W -f='${Package} ${Status}\\n' ufw 2>/dev/null || true")
    assert "install ok installed" not in packages, packages
    # the other hosts keep running
    for other in [SERVER, "edgefl-f-site-1", "edgefl-f-site-2"]:
        assert podman_host(other).service(unit(other)).is_running, other


def test_uninstall_playbook(podman_host):
    playbook("uninstall.yml", "-e", "nvflare_uninstall_confirm=yes")
    for name in [SERVER] + CLIENTS + [SPARE]:
        host = podman_host(name)
        assert not host.file("/etc/systemd/system/%s" % unit(name)).exists, name
        assert not host.file("/var/lib/nvflare").exists, name
        assert not host.file("/opt/nvflare/venv").exists, name
        assert "edgefl nvflare" not in host.check_output("ufw show added 2>/dev/null || true"), name
        assert "edgefl.nvflare participants" not in host.file("/etc/hosts").content_string, name
    assert os.path.isdir(os.path.join(workspace(), "edgefl", "state")), "the root CA must stay unless asked"
    assert not os.path.exists(admin_kit())


def test_report_figures():
    out = os.path.join(ROOT, "bench", "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "federation-molecule.json"), "w") as f:
        json.dump(STATE | {"extra_inventory": None}, f, indent=2)
    print("federation verify figures:", {k: v for k, v in STATE.items() if k != "extra_inventory"})
