"""Federation verify: playbooks/upgrade.yml moves the running federation between two NVFLARE versions (issue #15).

The scenario's fleet (the server and four clients, one of them a Jetson lookalike) runs 2.9.0. It moves to
2.8.3 and then upgrades back to 2.9.0, and the example job completes after the upgrade. The first move is killed
half-way through the switch (every host on its new venv, no kit installed yet) and the same command resumes it.
Each move must:
- verify that every client registered with the new version (upgrade.yml's own check);
- leave every host's venv at that version;
- leave nothing aside (no kept venv or kit on a host, no kept workspace on the control node); the move back also
  drops a partial venv a killed staging for a third release left, and keeps a directory of the user's.
The tests after this one (uninstall) then check that the hosts hold nothing the collection did not remove.
Before that, a switch that fails rolls back, the rollback is killed before the hosts are back, and the same command
finishes it. The Debian 11 scenario (molecule/legacy, on request) covers an upgrade from 2.4.2 and a failed switch
that rolls back.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess

from edgefl_testinfra import upgrade_leftovers, venv_versions
from fedlib import CLIENTS, ROOT, SERVER, SITE, SPARE, STATE, playbook, run_job, run_killed, workspace

OTHER = os.environ.get("EDGEFL_FED_UPGRADE_OTHER", "2.8.3")
CURRENT = "2.9.0"
VENV = "/opt/nvflare/venv"
# the nvflare_venv role's default nvflare_venv_wheelhouse_dir
WHEELHOUSE_DIR = "/var/cache/nvflare/wheelhouse"
# the switch play's kit install: by then every host has swapped its venvs (the linear strategy runs a task on every
# host before the next one) and stopped its service
KILL_AT = re.compile(r"^TASK \[Install the new kit and start the service\]")


def members(podman_host):
    """The server and the clients that run NVFLARE (site-4 joins in test_federation.py's add_client test)."""
    return [SERVER] + CLIENTS + ([SPARE] if podman_host(SPARE).file(VENV).exists else [])


def control_python(version):
    """A control-node Python with nvflare==version (scripts/nvflare-venv.sh: made once, then found)."""
    proc = subprocess.run([os.path.join(ROOT, "scripts", "nvflare-venv.sh"), version], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


def server_cert():
    """The SHA-256 of the server certificate of the control node's kit (STATE is printed with the figures)."""
    path = os.path.join(workspace(), "edgefl", "kits", SITE[SERVER], "startup", "server.crt")
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def member_sites(podman_host):
    """{container: site} of the members."""
    return {name: SITE[name] for name in members(podman_host)}


def move(podman_host, version, *extra):
    proc, seconds = playbook("upgrade.yml", "-e", "nvflare_version=" + version, *extra)
    out = proc.stdout + proc.stderr
    sites = member_sites(podman_host)
    hosts = list(sites)
    assert re.search(r"all %d client\(s\) registered with nvflare %s" % (len(hosts) - 1, re.escape(version)), out), \
        out[-3000:]
    assert venv_versions(podman_host, sites, VENV) == {site: version for site in sites.values()}
    assert upgrade_leftovers(podman_host, sites, VENV, version, workspace()) == []
    for name in hosts:
        assert podman_host(name).service(
            "nvflare-server.service" if name == SERVER else "nvflare-client.service").is_running
    return seconds, out


# the rollback's first step on the hosts: the control node has the old project back by then (the play before)
ROLLBACK_AT = re.compile(r"^TASK \[Stop the service and put the old kit back\]")


def test_a_rollback_killed_before_every_host_is_back_is_finished_by_the_next_run(podman_host):
    """A switch that fails (one client's new venv broken on purpose: its service exits at once, which its wait
    reports as soon as the process exited again after systemd's restart) rolls back; that rollback is killed after
    the control node had its old project back and before the hosts were rolled back. The new version's project stays
    aside, so a deploy stops instead of deploying over hosts that still run the new version; the same command again
    drops it, resumes, fails the same way and rolls every host back."""
    sites = member_sites(podman_host)
    assert venv_versions(podman_host, sites, VENV) == {site: CURRENT for site in sites.values()}
    # provisioned by site.yml and the lifecycle playbooks, which do not gather facts before (test_upgrade_back...)
    STATE["server_cert_before_upgrades"] = server_cert()
    args = ("-e", "nvflare_version=" + OTHER, "-e", "nvflare_control_python=" + control_python(OTHER),
            "-e", '{"nvflare_upgrade_test_break_hosts": ["%s"], "nvflare_service_wait_timeout": 30}' % CLIENTS[0])
    ws = workspace()
    rollback = os.path.join(ws, ".edgefl.upgrade-previous.failed")
    run_killed("upgrade.yml", ROLLBACK_AT, *args)
    assert os.path.isdir(rollback) and not os.path.exists(os.path.join(ws, ".edgefl.upgrade-previous"))
    assert OTHER in venv_versions(podman_host, sites, VENV).values()  # hosts still on the new version
    proc, _seconds = playbook("deploy.yml", check=False)
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0 and "its rollback was stopped before every host was rolled back" in out, out[-3000:]
    proc, seconds = playbook("upgrade.yml", *args, check=False)
    STATE["upgrade_rollback_resumed_seconds"] = round(seconds, 1)
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0 and "failed and was rolled back" in out, out[-3000:]
    # the broken client's wait ended when its process had exited twice, not after nvflare_service_wait_timeout
    assert "its process exited instead of registering (systemd: auto-restart, exit status 1)" in out, out[-3000:]
    assert "a rollback was killed before every host was rolled back" in out, out[-3000:]
    assert "every client registered" in out, out[-3000:]
    assert venv_versions(podman_host, sites, VENV) == {site: CURRENT for site in sites.values()}
    assert upgrade_leftovers(podman_host, sites, VENV, OTHER, ws) == []
    assert not os.path.exists(rollback)


def test_move_to_another_version(podman_host):
    """Killed half-way, then resumed by the same command: the run's own checks (every client registered with the new
    version, every venv at it, nothing left aside) hold for the resumed run."""
    sites = member_sites(podman_host)
    assert venv_versions(podman_host, sites, VENV) == {site: CURRENT for site in sites.values()}
    args = ("-e", "nvflare_version=" + OTHER, "-e", "nvflare_control_python=" + control_python(OTHER))
    run_killed("upgrade.yml", KILL_AT, *args)
    assert venv_versions(podman_host, sites, VENV) == {site: OTHER for site in sites.values()}
    assert all(podman_host(name).file(VENV + ".previous").is_directory for name in sites)
    assert os.path.isdir(os.path.join(workspace(), ".edgefl.upgrade-previous"))
    seconds, out = move(podman_host, OTHER, *args[2:])
    STATE["upgrade_to_%s_resumed_seconds" % OTHER] = round(seconds, 1)
    assert "this run resumes it" in " ".join(out.split()), out[-3000:]
    assert "resuming an earlier run that did not finish: %s already switched" % ", ".join(sorted(sites)) in \
        " ".join(out.split()), out[-3000:]


def test_upgrade_back_then_the_job_completes(podman_host, tmp_path):
    # what a staging killed before an upgrade to another release finished leaves on a host (a partial venv, the
    # wheelhouse archive it copied), and a user's directory next to the venv and file in the wheelhouse directory:
    # the verified upgrade drops the first two and keeps the others
    host = podman_host(CLIENTS[0])
    archive, notes = WHEELHOUSE_DIR + "/nvflare-2.7.3-0123456789.tar", WHEELHOUSE_DIR + "/notes.txt"
    host.run_expect([0], "python3 -m venv --without-pip %s-2.7.3 && mkdir -p %s-mine && touch %s-mine/pyvenv.cfg"
                    " && mkdir -p %s && touch %s %s" % (VENV, VENV, VENV, WHEELHOUSE_DIR, archive, notes))
    # the control node's own Python (the one running Ansible) has CURRENT
    STATE["upgrade_to_%s_seconds" % CURRENT] = round(move(podman_host, CURRENT)[0], 1)
    # upgrade.yml gathers facts before it provisions, and this inventory takes the server's address from them: the
    # provisioning resolves it either way (provision.yml), so the moves kept the server's certificate (before, they
    # issued one with the address, and the next site.yml one without it, each restarting every client)
    if "server_cert_before_upgrades" in STATE:
        assert server_cert() == STATE["server_cert_before_upgrades"]
    assert not host.file(VENV + "-2.7.3").exists
    assert not host.file(archive).exists
    assert host.file(VENV + "-mine/pyvenv.cfg").exists
    assert host.file(notes).exists
    host.run_expect([0], "rm -rf %s-mine %s" % (VENV, notes))
    res = run_job("edgefl-after-upgrade", str(tmp_path))
    assert res["status"] == "FINISHED:COMPLETED"
