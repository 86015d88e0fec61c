"""Issue #14 hardening on the running federation: no key material in the output of deploy.yml at -vvv with
--diff (and --check) after a client lost its key, and a firewall rule we added that is no longer wanted is
deleted (the server's admin port moved for the firewall, then moved back). Leaves the federation as found."""

from __future__ import annotations

import json
import os
import re
import time

from fedlib import CLIENTS, SERVER, SITE, SPARE, STATE, playbook, wait_all_connected, workspace

SITE1 = "edgefl-f-site-1"
KEY = "/var/lib/nvflare/site-1/startup/client.key"
LIMIT = ["--limit", "%s,%s,localhost" % (SERVER, SITE1)]


def _cert_json_fragments():
    """Distinctive pieces of the provisioning state (state/cert.json): every line of 40+ characters of its
    string values (the base64 lines of the root CA key and the participants' keys and certificates)."""
    with open(os.path.join(workspace(), "edgefl", "state", "cert.json"), encoding="utf-8") as f:
        state = json.load(f)
    found = set()

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str):
            found.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 40)
    walk(state)
    return found


def _assert_no_secret(out, fragments, what):
    assert "PRIVATE KEY" not in out, what
    leaked = [frag for frag in fragments if frag in out]
    assert not leaked, "%s printed %d line(s) of state/cert.json" % (what, len(leaked))


def test_deploy_with_diff_vvv_prints_no_key(podman_host):
    site1 = podman_host(SITE1)
    fragments = _cert_json_fragments()
    assert len(fragments) > 10  # the root CA and every participant: the check below has something to find
    t0 = time.time()
    site1.check_output("rm -f %s", KEY)
    # the kit stages only (service, admin): the keys go through them; the prepare stage (venv, hosts entries,
    # firewall) handles no secret and is the costliest part of a -vvv run
    check = playbook("deploy.yml", "--check", "--diff", "-vvv", "--tags", "service,admin", *LIMIT)[0]
    _assert_no_secret(check.stdout + check.stderr, fragments, "deploy.yml --check --diff -vvv")
    # the key did go through the kit copy (which would have shown it in a diff)
    assert re.search(r"changed: \[%s\] => \(item=startup/client\.key\)" % SITE1, check.stdout), check.stdout[-3000:]
    assert not site1.file(KEY).exists  # check mode changed nothing
    real = playbook("deploy.yml", "--diff", "-vvv", "--tags", "service,admin", *LIMIT)[0]
    _assert_no_secret(real.stdout + real.stderr, fragments, "deploy.yml --diff -vvv")
    key = site1.file(KEY)
    assert key.exists and key.mode == 0o600 and key.user == "nvflare"
    wait_all_connected([SITE[c] for c in CLIENTS + [SPARE]], 120)
    STATE["m10_key_leak_check_seconds"] = round(time.time() - t0, 1)


def test_provision_and_status_vvv_print_no_key():
    # the playbooks that read the workspace and the admin kit on the control node (no change here)
    for name in ("provision.yml", "status.yml"):
        proc = playbook(name, "--diff", "-vvv")[0]
        _assert_no_secret(proc.stdout + proc.stderr, _cert_json_fragments(), name + " --diff -vvv")


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
