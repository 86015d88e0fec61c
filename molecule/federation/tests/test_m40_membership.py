"""Membership after day one (issue #14): the restart guard, NVFLARE's disable_client lock-out, status
warnings and expiry, certificate renewal, removal and re-adding of a client. Runs after test_federation.py
(site-4 is in the federation) and leaves it as found: every service running, site-1..site-4 connected."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from fedlib import (
    CLIENTS, ROOT, SERVER, SITE, SPARE, STATE, admin_kit, env, main_pid, module, playbook, run_job, run_killed,
    status, unit, wait_all_connected, workspace,
)

ALL = [SITE[c] for c in CLIENTS + [SPARE]]
FIRST = [SITE[c] for c in CLIENTS]
SERVER_WS = "/var/lib/nvflare/server1"


def _provision_membership():
    """True when playbooks/provision.yml passes the membership options of helper A (IFACE.md) to the module."""
    with open(os.path.join(ROOT, "playbooks", "provision.yml")) as f:
        text = f.read()
    return all(k in text for k in ("nvflare_renew_certs", "nvflare_remove_clients", "nvflare_allow_readd"))


needs_membership = pytest.mark.skipif(
    not _provision_membership(), reason="playbooks/provision.yml does not pass renew/remove/allow_readd yet"
)


def _recap_changed(stdout, host):
    m = re.search(r"^%s\s*:.*?changed=(\d+)" % re.escape(host), stdout, re.M)
    return int(m.group(1)) if m else None


def _wait_running_job(job_id, timeout=90):
    t0 = time.time()
    while time.time() - t0 < timeout:
        res = status(ALL)
        if job_id in [j["job_id"] for j in res.get("running_jobs") or []]:
            return
        time.sleep(1)
    raise AssertionError("job %s never listed as running: %s" % (job_id, res))


def _long_job(tmp_path, rounds=20):
    """The example job with more rounds, so that it is still running while the playbooks look."""
    dest = str(tmp_path / "numpy_fedavg_long")
    shutil.copytree(os.path.join(ROOT, "playbooks", "files", "jobs", "numpy_fedavg"), dest)
    cfg = os.path.join(dest, "app", "config", "config_fed_server.json")
    with open(cfg) as f:
        data = json.load(f)
    data["workflows"][0]["args"]["num_rounds"] = rounds
    with open(cfg, "w") as f:
        json.dump(data, f, indent=4)
    return dest


def test_restart_waits_for_a_running_job(podman_host, tmp_path):
    server = podman_host(SERVER)
    pid = main_pid(server, SERVER)
    job = module("job", {"admin_kit": admin_kit(), "src": _long_job(tmp_path), "submit_token": "m40-guard", "wait": False})
    assert not job.get("failed"), job
    _wait_running_job(job["job_id"])
    # no waiting: refused, naming the job and the override; nothing restarted
    refused = playbook("restart.yml", "-e", "nvflare_job_guard_timeout=0", check=False)[0]
    assert refused.returncode != 0
    assert job["job_id"] in refused.stdout and "nvflare_allow_restart_during_job=true" in refused.stdout
    assert main_pid(server, SERVER) == pid
    # with time to wait: the restart waits for the job, which completes, then restarts and waits for the clients
    still_running = job["job_id"] in [j["job_id"] for j in status(ALL).get("running_jobs") or []]
    waited, seconds = playbook("restart.yml", "-e", "nvflare_job_guard_timeout=300")
    STATE["restart_after_job_seconds"] = round(seconds, 1)
    done = module("job", {"admin_kit": admin_kit(), "job_id": job["job_id"], "timeout": 60})
    assert done["status"] == "FINISHED:COMPLETED", done
    assert main_pid(server, SERVER) != pid
    if still_running:
        assert "RETRYING" in waited.stdout, waited.stdout[-3000:]
    assert status(ALL)["all_clients_connected"]


def _lockout(site_provision):
    return playbook("lockout.yml", "-e", json.dumps({"site_provision": site_provision}))[0]


def test_disabled_client_stays_out_across_restarts(podman_host):
    """NVFLARE's own disable_client through playbooks/lockout.yml, with a deny list set by hand."""
    server, spare = podman_host(SERVER), podman_host(SPARE)
    t0 = time.time()
    _lockout({"removed_all": ["site-4"]})
    res = status(FIRST)  # site-4 is gone, so it is no unknown client either
    assert not res.get("failed") and "site-4" not in res["client_names"], res
    assert json.loads(server.file(SERVER_WS + "/disabled_clients.json").content_string) == {"disabled_clients": ["site-4"]}
    again = _lockout({"removed_all": ["site-4"]})
    assert _recap_changed(again.stdout, "localhost") == 0, again.stdout[-2000:]
    # its own restart does not bring it back, nor does a server restart
    spare.run("systemctl restart %s", unit(SPARE))
    server.run("systemctl restart %s", unit(SERVER))
    wait_all_connected(FIRST, 120)
    time.sleep(10)
    res = status(FIRST)
    assert "site-4" not in res["client_names"], res
    assert not status(ALL)["all_clients_connected"]
    STATE["lockout_check_seconds"] = round(time.time() - t0, 1)
    # re-added (it has a certificate again): enabled, and it registers
    _lockout({"removed_all": ["site-4"], "certificates": {n: {} for n in ALL + ["server1"]}})
    assert json.loads(server.file(SERVER_WS + "/disabled_clients.json").content_string) == {"disabled_clients": []}
    spare.run("systemctl restart %s", unit(SPARE))
    wait_all_connected(ALL, 120)


def test_status_warns_about_a_client_not_in_the_inventory_and_shows_expiry():
    # the inventory without the extra file that lists site-4: site-4 is connected but unknown
    inv = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    proc = subprocess.run(["ansible-playbook", "-i", inv, os.path.join(ROOT, "playbooks", "status.yml")],
                          env=env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "WARNING unknown client connected: site-4" in proc.stdout
    assert "certificate rootCA (root_ca) expires" in proc.stdout and "certificate site-1 (client) expires" in proc.stdout
    res = status(FIRST)
    assert res.get("failed") and res["error"] == "unknown_clients" and res["unknown_clients"] == ["site-4"], res


def _not_after(host, path):
    return host.check_output("openssl x509 -noout -enddate -in %s", path).split("=", 1)[1]


# After the new kits are on the hosts, before any service restarted (configure.yml, then the handlers)
KILL_BEFORE_RESTART = re.compile(r"^TASK \[edgefl\.nvflare\.nvflare_service : Write the unit environment, the job storage")
MARKER = "/var/lib/nvflare/%s/.edgefl-restart-pending"


@needs_membership
def test_renew_certs_killed_before_the_restart_is_finished_by_site_yml(podman_host, tmp_path):
    """Certificates with a short lifetime (control node only), then renew_certs.yml with the default lifetime, killed
    after it installed the new kits and before it restarted anything: every host has the new certificate on disk and
    runs the old one. A site.yml that found those kits unchanged did not restart, and the services kept the old
    certificates until some later restart split the federation (a rotate_ca.yml killed the same way left no client
    able to connect after the next restart). The marker the kit install leaves makes the next run restart every
    service with the later certificates; the job completes, the superseded kits are pruned, and the run after that
    changes nothing. (rotate_ca.yml runs to its end, restart included, in test_m48_kit_owner.py.)"""
    site1 = podman_host(CLIENTS[0])
    playbook("provision.yml", "-e", "nvflare_renew_certs=true", "-e", "nvflare_cert_validity_days=30")
    kits = os.path.join(workspace(), "edgefl", "kits")
    short = module("status", {"admin_kit": admin_kit(), "kits_dir": kits, "expected_clients": ALL})
    short_days = {c["name"]: c["days_left"] for c in short["certificates"]}
    assert short_days["site-1"] <= 30, short_days
    before = {c: main_pid(podman_host(c), c) for c in [SERVER] + CLIENTS + [SPARE]}
    run_killed("renew_certs.yml", KILL_BEFORE_RESTART, delay=0)
    for c in [SERVER] + CLIENTS + [SPARE]:
        host = podman_host(c)
        assert main_pid(host, c) == before[c], "%s restarted before the kill" % c
        assert host.file(MARKER % SITE[c]).exists, c
    proc, seconds = playbook("../site.yml")
    STATE["site_after_renewal_killed_before_restart_seconds"] = round(seconds, 1)
    for c in [SERVER] + CLIENTS + [SPARE]:
        host = podman_host(c)
        assert main_pid(host, c) != before[c], "%s still runs its old certificate" % c
        assert not host.file(MARKER % SITE[c]).exists, c
    wait_all_connected(ALL, 150)
    renewed = module("status", {"admin_kit": admin_kit(), "kits_dir": kits, "expected_clients": ALL})
    days = {c["name"]: c["days_left"] for c in renewed["certificates"]}
    assert all(days[n] > short_days[n] for n in ALL + ["server1"]), (short_days, days)
    assert renewed["all_clients_connected"], renewed
    local = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", os.path.join(kits, "site-1", "startup", "client.crt")],
                           capture_output=True, text=True, check=True).stdout.split("=", 1)[1]
    assert _not_after(site1, "/var/lib/nvflare/site-1/startup/client.crt").strip() == local.strip()
    run_job("m40-after-renew", str(tmp_path))
    # the two renewals superseded every kit of the earlier prod_NN directories: nvflare_prune_kits deletes those and
    # nothing a current kit is in (the later tests remove, upgrade and back up this pruned workspace)
    project = os.path.join(workspace(), "edgefl")
    pruned = " ".join(playbook("provision.yml", "-e", "nvflare_prune_kits=true")[0].stdout.split())
    assert "superseded kit directories deleted: prod_" in pruned, pruned[-3000:]
    used = {os.path.realpath(os.path.join(kits, k)).split(os.sep)[-2] for k in os.listdir(kits)}
    assert sorted(d for d in os.listdir(project) if d.startswith("prod_")) == sorted(used), used
    assert all(os.path.isfile(os.path.join(kits, k, "startup", "rootCA.pem")) for k in os.listdir(kits))
    again = playbook("../site.yml")[0]
    assert "changed=0" in again.stdout and not re.search(r" changed=[1-9]", again.stdout), again.stdout[-3000:]


@needs_membership
def test_removed_client_with_its_old_kit_does_not_register(podman_host):
    spare = podman_host(SPARE)
    spare.run("rm -rf /root/m40-old && mkdir -p /root/m40-old && cp -a /var/lib/nvflare/site-4 /root/m40-old/ "
              "&& cp /etc/systemd/system/%s /root/m40-old/", unit(SPARE))
    seconds = playbook("remove_client.yml", "-e", "nvflare_remove_clients=site-4")[1]
    STATE["remove_client_seconds"] = round(seconds, 1)
    assert "site-4" not in status(FIRST)["client_names"]
    assert not spare.file("/etc/systemd/system/%s" % unit(SPARE)).exists
    assert not spare.file("/var/lib/nvflare/site-4").exists
    # the device comes back by hand with its old kit: the server refuses it
    spare.run("mkdir -p /var/lib/nvflare/storage && chown nvflare:nvflare /var/lib/nvflare/storage "
              "&& cp -a /root/m40-old/site-4 /var/lib/nvflare/ && cp /root/m40-old/%s /etc/systemd/system/ "
              "&& systemctl daemon-reload && systemctl start %s", unit(SPARE), unit(SPARE))
    time.sleep(20)
    res = status(FIRST)
    assert not res.get("failed") and "site-4" not in res["client_names"], res


@needs_membership
def test_readd_the_removed_client(podman_host):
    with open(os.path.join(ROOT, "playbooks", "add_client.yml")) as f:
        if "lockout.yml" not in f.read():
            # until add_client.yml imports playbooks/lockout.yml (which enables a re-added client)
            module("status", {"admin_kit": admin_kit(), "enable_clients": ["site-4"], "fail_unknown": False})
    playbook("add_client.yml", "-e", "nvflare_add_clients=" + SPARE, "-e", "nvflare_allow_readd=site-4")
    res = status(ALL)
    assert res["all_clients_connected"], res
    assert podman_host(SPARE).service(unit(SPARE)).is_running
    podman_host(SPARE).run("rm -rf /root/m40-old")
