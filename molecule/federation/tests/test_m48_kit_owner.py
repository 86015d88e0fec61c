"""Federation verify, a host of another federation (docs/playbooks.md, "A host of another federation"): a second
workspace, with a root CA of its own (another operator, a workspace made again), deploys a running client of this
federation. Its run stops on that client in the first play that reads it, before anything changes there (a run limited
by tags, in the kit install, before any kit file); with
-e nvflare_replace_foreign_kit=true it takes the client over (add_client.yml refuses the device too), and this federation's own deploy then refuses the
client in turn, until it takes it back the same way and the client registers again. Then rotate_ca.yml moves every
host to a new root CA through the kit install's check.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import time

from fedlib import (CLIENTS, ROOT, SERVER, SITE, SPARE, STATE, env, inventory_args, main_pid, wait_all_connected,
                    workspace)

HOST = CLIENTS[0]
KIT_CA = "/var/lib/nvflare/%s/startup/rootCA.pem" % SITE[HOST]
RECORD = "/var/lib/edgefl-nvflare/fast-path/host-state.json"


def run(name, *extra):
    e = env()
    e.update(ANSIBLE_CALLBACK_RESULT_FORMAT="json")  # the message on one line
    t0 = time.time()
    proc = subprocess.run(["ansible-playbook", *inventory_args(), os.path.join(ROOT, name), *extra],
                          env=e, capture_output=True, text=True, check=False)
    STATE.setdefault("kit_owner_seconds", []).append(round(time.time() - t0, 1))
    return proc.returncode, proc.stdout + proc.stderr


def recap(out, host):
    found = re.search(r"^%s\s+: (ok=.*)$" % re.escape(host), out, re.M)
    assert found, out[-3000:]
    return found.group(1)


def host_view(podman_host):
    """What a refused run must leave as it was: the kit's root CA and key, the service's process, the record."""
    h = podman_host(HOST)
    key = "/var/lib/nvflare/%s/startup/client.key" % SITE[HOST]
    return {"ca": h.check_output("sha256sum %s", KIT_CA), "key": h.check_output("sha256sum %s", key),
            "pid": main_pid(h, HOST), "record": h.check_output("stat -c '%%Y %%s' %s", RECORD)}


def workspace_ca(ws):
    with open(os.path.join(ws, "edgefl", "kits", SITE[HOST], "startup", "rootCA.pem"), encoding="ascii") as f:
        return f.read()


def test_check_mode_of_a_new_workspace_names_every_host(podman_host, tmp_path):
    """site.yml --check with a workspace that was never provisioned: check mode makes no root CA, and no kit on a host
    can be that workspace's. Every host is named; nothing is written, on the hosts or in the workspace."""
    new = str(tmp_path / "new-workspace")
    before = host_view(podman_host)
    rc, out = run("site.yml", "--check", "-e", "nvflare_workspace=" + new)
    assert rc != 0, out[-3000:]
    for host in CLIENTS + [SERVER]:
        assert re.search(r"%s holds an NVFLARE kit \(/var/lib/nvflare/%s/startup/rootCA.pem\) issued by another root "
                         r"CA \(certificate SHA-256 [0-9a-f]{16}\) than this workspace's, which has no root CA yet"
                         % (re.escape(host), SITE[host]), out), (host, out[-3000:])
        assert "changed=0" in recap(out, host) and "failed=1" in recap(out, host)
    assert not os.path.exists(new)
    assert host_view(podman_host) == before


def test_another_workspace_is_refused_then_takes_over_with_the_override(podman_host, tmp_path):
    other = str(tmp_path / "other-workspace")
    rc, out = run("playbooks/provision.yml", "-e", "nvflare_workspace=" + other)
    assert rc == 0, out[-3000:]
    before = host_view(podman_host)

    # the other workspace's deploy: refused on the client, nothing changed there
    rc, out = run("playbooks/deploy.yml", "-e", "nvflare_workspace=" + other, "--limit", HOST)
    assert rc != 0, out[-3000:]
    assert re.search(r"%s holds an NVFLARE kit \(%s\) issued by another root CA \(certificate SHA-256 [0-9a-f]{16}\) "
                     r"than this workspace's \(%s/" % (re.escape(HOST), re.escape(KIT_CA), re.escape(other)), out), \
        out[-3000:]
    assert "-e nvflare_replace_foreign_kit=true" in out
    assert "changed=0" in recap(out, HOST) and "failed=1" in recap(out, HOST)
    assert host_view(podman_host) == before
    # add_client.yml of the other workspace, for the same device (a re-used one): refused in its probe
    rc, out = run("playbooks/add_client.yml", "-e", "nvflare_workspace=" + other, "-e", "nvflare_add_clients=" + HOST)
    assert rc != 0 and "%s holds an NVFLARE kit (%s) issued by another root CA" % (HOST, KIT_CA) in out, out[-3000:]
    assert "changed=0" in recap(out, HOST) and "failed=1" in recap(out, HOST)
    assert host_view(podman_host) == before
    # a run limited by tags skips that probe: the kit install stops instead, before any file of the kit lands
    rc, out = run("playbooks/deploy.yml", "-e", "nvflare_workspace=" + other, "--limit", HOST, "--tags", "service")
    assert rc != 0 and "%s holds an NVFLARE kit (%s) issued by another root CA" % (HOST, KIT_CA) in out, out[-3000:]
    assert "No directory or file of its kit was changed" in out, out[-3000:]
    assert "changed=0" in recap(out, HOST) and "failed=1" in recap(out, HOST)
    assert host_view(podman_host) == before

    # with the override it takes the client over (the client cannot log in to this federation's server any more:
    # no registration wait)
    rc, out = run("playbooks/deploy.yml", "-e", "nvflare_workspace=" + other, "--limit", HOST,
                  "-e", "nvflare_replace_foreign_kit=true", "-e", "nvflare_service_wait=false")
    assert rc == 0, out[-3000:]
    assert podman_host(HOST).file(KIT_CA).content_string == workspace_ca(other)

    # now this federation's own deploy refuses the client, until told to take it back
    rc, out = run("playbooks/deploy.yml", "--limit", HOST)
    assert rc != 0 and "issued by another root CA" in out, out[-3000:]
    assert "failed=1" in recap(out, HOST)
    rc, out = run("playbooks/deploy.yml", "--limit", HOST, "-e", "nvflare_replace_foreign_kit=true")
    assert rc == 0, out[-3000:]
    # every client of the federation, the spare test_federation.py added included
    wait_all_connected([SITE[c] for c in CLIENTS + [SPARE]], 120)
    assert podman_host(HOST).file(KIT_CA).content_string != workspace_ca(other)
    # and it is this federation's again: a deploy without the override goes through, changing nothing
    rc, out = run("playbooks/deploy.yml", "--limit", HOST)
    assert rc == 0 and "changed=0" in recap(out, HOST), out[-3000:]


def test_rotate_ca_moves_every_host_through_the_kit_install_check(podman_host):
    """rotate_ca.yml replaces the root CA of every host's kit. The kit install reads each host's root CA before it
    does (a kit of another root CA), and lets the host through because the rotation retired that root CA
    (state/retired); every client registers again under the new root CA."""
    ws = workspace()
    old = workspace_ca(ws)
    rc, out = run("playbooks/rotate_ca.yml")
    assert rc == 0, out[-3000:]
    new = workspace_ca(ws)
    assert new != old
    retired = glob.glob(os.path.join(ws, "edgefl", "state", "retired", "*", "rootCA.pem"))
    assert old in [open(p, encoding="ascii").read() for p in retired], retired
    hosts = [SERVER] + CLIENTS + [SPARE]
    check = out.split("nvflare_common : Stop when the host's kit was issued by a root CA", 1)[1].split("TASK [", 1)[0]
    for host in hosts:
        assert re.search(r"^ok: \[%s\]" % re.escape(host), check, re.M), check  # read, and let through
        assert podman_host(host).file("/var/lib/nvflare/%s/startup/rootCA.pem" % SITE[host]).content_string == new
    wait_all_connected([SITE[c] for c in CLIENTS + [SPARE]], 120)
