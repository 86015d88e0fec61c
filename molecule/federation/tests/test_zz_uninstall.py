"""Last tests of the federation scenario: uninstall one host (compared with its fresh state), show that bad role
input leaves that fresh host untouched, bring it back with a limited deploy killed half-way and finished by the next
run, uninstall the fleet, then write the figures every verify test collected (fedlib.STATE)."""

from __future__ import annotations

import json
import os
import re
import subprocess

from fedlib import (CLIENTS, ROOT, SERVER, SITE, SPARE, STATE, admin_kit, playbook, run_killed, unit,
                    wait_all_connected, workspace)


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


def assert_as_fresh(name):
    """/etc, /opt and /var/lib of the host are as when its container was new (TREE_IGNORED aside)."""
    with open(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "fresh-tree-%s.tsv" % name),
              encoding="utf-8") as f:
        fresh = parse_tree(f.read())
    now = tree(name)
    added = sorted(set(now) - set(fresh))
    removed = sorted(set(fresh) - set(now))
    changed = sorted(p for p in set(now) & set(fresh) if now[p] != fresh[p])
    assert (added, removed, changed) == ([], [], []), "not as fresh: added %s, removed %s, changed %s" % (
        added[:40], removed[:40], [(p, fresh[p], now[p]) for p in changed[:40]])


def test_uninstall_one_host_leaves_it_as_fresh(podman_host):
    name = "edgefl-f-site-3"
    host = podman_host(name)
    # what the roles made on this Jetson lookalike, before
    assert host.file("/etc/systemd/system/nvflare-jetson-power.service").exists
    assert host.file("/swapfile").exists and "/swapfile" in host.file("/etc/fstab").content_string
    STATE["uninstall_one_host_seconds"] = round(playbook("uninstall.yml", "--limit", name)[1], 1)
    again = playbook("uninstall.yml", "--limit", name)[0]
    assert "changed=0" in again.stdout and "failed=0" in again.stdout, again.stdout[-3000:]
    assert_as_fresh(name)
    packages = host.check_output("dpkg-query -W -f='${Package} ${Status}\\n' ufw 2>/dev/null || true")
    assert "install ok installed" not in packages, packages
    # the other hosts keep running
    for other in [SERVER, "edgefl-f-site-1", "edgefl-f-site-2"]:
        assert podman_host(other).service(unit(other)).is_running, other


def test_bad_input_of_a_later_role_changes_nothing_on_a_fresh_host(podman_host):
    """A bad variable of the firewall or of the service role, the last two, stops deploy.yml on the fresh host
    before the first role changes it (nvflare_common role_checks): the host stays as fresh. Once limited to that host
    (the server's address, which this inventory takes from facts, comes from nvflare_common peer_facts; the hosts
    role's check, which runs before the firewall's, needs it), once on the whole fleet: the changed variable sends
    every host through the roles, and every one stops there, its service still running."""
    name = "edgefl-f-site-3"
    for limit, bad, said in (
            (["--limit", name], {"nvflare_firewall_source_cidrs": ["not-a-net"]},
             "must list IP networks in CIDR notation"),
            ([], {"nvflare_service_environment": {"BAD NAME": "x"}}, "invalid nvflare_service_environment")):
        proc = playbook("deploy.yml", *limit, "-e", json.dumps(bad), check=False)[0]
        flat = " ".join(proc.stdout.split())
        assert proc.returncode != 0 and said in flat, proc.stdout[-3000:]
        assert " changed=" in flat and not re.search(r" changed=[1-9]", flat), proc.stdout[-3000:]
        assert_as_fresh(name)
        for other in [SERVER, "edgefl-f-site-1", "edgefl-f-site-2"]:
            assert podman_host(other).service(unit(other)).is_running, other


# Where the killed deploy dies: the venv role's install, after it created the user, directories and venv
KILL_AT = re.compile(r"^TASK \[edgefl\.nvflare\.nvflare_venv : (Unpack the golden venv|Install with pip)")


def test_a_limited_deploy_of_the_fresh_host_killed_half_way_is_finished_by_the_next_run(podman_host):
    """deploy.yml --limit on the one fresh host, killed with all its processes in the venv role's install, leaves a
    host that the next limited run converges (its service runs and it registers), and the run after that changes
    nothing. This inventory takes every address from facts, and a limited run gathers only its own hosts': before
    nvflare_common peer_facts, the hosts role stopped it for want of the server's address; the finishing run
    gathers the server's facts and writes the other clients' hosts entry (the server's address)."""
    name = "edgefl-f-site-3"
    host = podman_host(name)
    run_killed("deploy.yml", KILL_AT, "--limit", name)  # inside the install
    assert not host.service(unit(name)).is_running
    proc, seconds = playbook("deploy.yml", "--limit", name)
    STATE["deploy_after_killed_deploy_seconds"] = round(seconds, 1)
    flat = " ".join(proc.stdout.split())
    assert "ok: [%s -> %s" % (name, SERVER) in flat, proc.stdout[-3000:]  # the server's facts, gathered

    def block(other):
        text = podman_host(other).file("/etc/hosts").content_string
        return re.findall(r"^\S+\s+server1$", text, re.M)

    assert block(name) and block(name) == block("edgefl-f-site-1"), (block(name), block("edgefl-f-site-1"))
    assert host.service(unit(name)).is_running
    assert host.file("/etc/systemd/system/%s" % unit(name)).exists
    wait_all_connected([SITE[c] for c in CLIENTS + [SPARE]], 240)
    again = playbook("deploy.yml", "--limit", name)[0]
    assert "changed=0" in again.stdout and "failed=0" in again.stdout, again.stdout[-3000:]


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
