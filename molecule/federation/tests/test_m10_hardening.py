"""Issue #14 hardening on the running federation: no key material in the output of provision.yml and status.yml at
-vvv with --diff, and a firewall rule we added that is no longer wanted is deleted (the server's admin port moved
for the firewall, then moved back). Leaves the federation as found. A lost client key reinstalled by a run at -vvv
with --diff (check mode, then for real) prints none either: molecule/service/cleanup.yml, with the same check of
state/cert.json's lines (tests/molecule/leaked_secrets.py)."""

from __future__ import annotations

import os
import re
import time

import leaked_secrets
from fedlib import CLIENTS, SERVER, SITE, SPARE, STATE, playbook, wait_all_connected, workspace

SITE1 = "edgefl-f-site-1"


def _assert_no_secret(out, what):
    """tests/molecule/leaked_secrets.py: no "PRIVATE KEY" and no 40+ character line of state/cert.json in out."""
    rc, message = leaked_secrets.check(os.path.join(workspace(), "edgefl"), out)
    assert rc == 0, "%s: %s" % (what, message)


def test_provision_and_status_vvv_print_no_key():
    # the playbooks that read the workspace and the admin kit on the control node (no change here)
    for name in ("provision.yml", "status.yml"):
        proc = playbook(name, "--diff", "-vvv")[0]
        _assert_no_secret(proc.stdout + proc.stderr, name + " --diff -vvv")


def _reaches(client, ip, port):
    probe = "python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)' %s %s"
    return client.run(probe, ip, str(port)).rc == 0


def _added(server):
    return server.check_output("ufw show added")


def test_firewall_deletes_the_rule_of_an_old_port(podman_host):
    server, client = podman_host(SERVER), podman_host(SITE1)
    ip = client.check_output("getent hosts server1").split()[0]
    t0 = time.time()
    assert "'edgefl nvflare 8003'" in _added(server) and _reaches(client, ip, 8003)
    # the server's admin port moves to 8013 for the firewall only (the server keeps listening on 8003)
    # key=value extra vars: the port arrives as the string "8013" (the role's check accepts digit strings)
    playbook("deploy.yml", "--tags", "firewall", "--limit", SERVER, "-e", "nvflare_firewall_admin_port=8013")
    try:
        added = _added(server)
        assert "'edgefl nvflare 8013'" in added and "8003" not in added, added
        assert not _reaches(client, ip, 8003)  # the old rule is gone: the listening port is closed
        assert _reaches(client, ip, 8002)
    finally:
        proc = playbook("deploy.yml", "--tags", "firewall", "--limit", SERVER)[0]
    added = _added(server)
    assert "'edgefl nvflare 8003'" in added and "8013" not in added, added
    assert re.search(r"%s\s*:.*changed=[1-9]" % SERVER, proc.stdout) and _reaches(client, ip, 8003)
    wait_all_connected([SITE[c] for c in CLIENTS + [SPARE]], 60)
    STATE["m10_firewall_port_change_seconds"] = round(time.time() - t0, 1)
