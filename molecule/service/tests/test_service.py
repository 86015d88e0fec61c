"""Observable state after the host roles converged on a server and a client container."""

import ipaddress
import json
import os
import subprocess
import sys

import pytest
from edgefl_testinfra import systemd_security_exposure

SERVER, CLIENT = "edgefl-r-svc-server", "edgefl-r-svc-client"


def _ipv4(host):
    """(address, network CIDR) of the container's interface on the scenario network."""
    cidr = host.check_output("ip -4 -o addr show dev eth0").split()[3]
    iface = ipaddress.ip_interface(cidr)
    return str(iface.ip), str(iface.network)


UNITS = {SERVER: "nvflare-server.service", CLIENT: "nvflare-client.service"}
SITES = {SERVER: "fl-server", CLIENT: "site-1"}
KEYS = {SERVER: "server.key", CLIENT: "client.key"}


@pytest.fixture(params=[SERVER, CLIENT])
def node(request, podman_host):
    return request.param, podman_host(request.param)


# --- nvflare_service -----------------------------------------------------------------
def test_unit_active_enabled_as_nvflare(node):
    name, host = node
    svc = host.service(UNITS[name])
    assert svc.is_running and svc.is_enabled
    pid = host.check_output("systemctl show -p MainPID --value %s", UNITS[name])
    assert host.check_output("ps -o user= -p %s", pid).strip() == "nvflare"
    assert host.check_output("systemctl show -p Restart --value %s", UNITS[name]) == "on-failure"


ENV = {"EDGEFL_TEST_TOKEN": "s3cr3t-token ab'c\"d$e`f\\g ${HOME} %n %%", "EDGEFL_TEST_PLAIN": "a b  c"}


def test_unit_environment_file(podman_host):
    """nvflare_service_environment (converge.yml): a root 0600 EnvironmentFile; the running process has the
    values exactly (quotes, $, backslash, % specifiers untouched); the world-readable unit does not."""
    client, server = podman_host(CLIENT), podman_host(SERVER)
    env_file = client.file("/etc/default/nvflare-client")
    assert env_file.exists and env_file.mode == 0o600 and env_file.user == "root" and env_file.group == "root"
    unit = client.file("/etc/systemd/system/nvflare-client.service").content_string
    assert "EnvironmentFile=/etc/default/nvflare-client" in unit and "s3cr3t" not in unit
    pid = int(client.check_output("systemctl show -p MainPID --value nvflare-client.service"))
    # root in the container has no CAP_SYS_PTRACE: read the process's environment as its own user
    read = client.run("setpriv --reuid nvflare --regid nvflare --clear-groups cat /proc/%d/environ" % pid)
    assert read.rc == 0, read.stderr
    got = dict(item.split("=", 1) for item in read.stdout.split("\0") if "=" in item)
    assert {k: got.get(k) for k in ENV} == ENV
    assert "s3cr3t" not in client.check_output("systemctl show -p Environment nvflare-client.service")
    # no environment: no file, no EnvironmentFile line
    assert not server.file("/etc/default/nvflare-server").exists
    assert "EnvironmentFile" not in server.file("/etc/systemd/system/nvflare-server.service").content_string


def test_server_listens(podman_host):
    host = podman_host(SERVER)
    assert host.socket("tcp://0.0.0.0:8002").is_listening or host.socket("tcp://:::8002").is_listening
    assert host.socket("tcp://0.0.0.0:8003").is_listening or host.socket("tcp://:::8003").is_listening


def test_client_registered(podman_host):
    out = podman_host(CLIENT).check_output("journalctl --no-pager -o cat -u nvflare-client.service")
    assert "Successfully registered client:site-1" in out


def test_own_key_only(node):
    name, host = node
    ws = f"/var/lib/nvflare/{SITES[name]}"
    kit = host.file(ws)
    assert kit.mode == 0o700 and kit.user == "nvflare"
    key = host.file(f"{ws}/startup/{KEYS[name]}")
    assert key.exists and key.mode == 0o600 and key.user == "nvflare" and key.group == "nvflare"
    # no other participant's key or kit anywhere on the host
    keys = host.check_output("find / -xdev -name '*.key' -path '*startup*' 2>/dev/null || true").split()
    assert keys == [key.path]
    for other in {"fl-server", "site-1", "site-2", "admin@nvidia.com"} - {SITES[name]}:
        assert not host.file(f"/var/lib/nvflare/{other}").exists


def test_job_storage_persistent(node):
    name, host = node
    resources = host.file(f"/var/lib/nvflare/{SITES[name]}/local/resources.json").content_string
    assert "/tmp" not in resources
    if name == SERVER:
        data = json.loads(resources)
        assert data["snapshot_persistor"]["args"]["storage"]["args"]["root_dir"] == "/var/lib/nvflare/storage/snapshot-storage"
        job_manager = [c for c in data["components"] if c["id"] == "job_manager"][0]
        assert job_manager["args"]["uri_root"] == "/var/lib/nvflare/storage/jobs-storage"
        assert host.file("/var/lib/nvflare/storage").user == "nvflare"


def test_systemd_security_exposure(node):
    name, host = node
    score = systemd_security_exposure(host, UNITS[name])
    print(f"\nsystemd-analyze security {UNITS[name]} on {name}: {score}")
    assert score <= 5.0


# --- nvflare_hosts ---------------------------------------------------------------------
def test_server_name_resolves(node, podman_host):
    host = node[1]
    server_ip = _ipv4(podman_host(SERVER))[0]
    assert host.check_output("getent hosts fl-server").split()[0] == server_ip
    assert "# BEGIN edgefl.nvflare participants" in host.file("/etc/hosts").content_string


# --- nvflare_firewall ------------------------------------------------------------------
def _ufw_rules(host):
    out = host.check_output("ufw status")
    assert "Status: active" in out
    # "8002/tcp   ALLOW   10.89.1.0/24" and the IPv6 twin "22/tcp (v6)   ALLOW   Anywhere (v6)"
    return sorted(
        {" ".join(line.replace(" (v6)", "").split()[:3]) for line in out.splitlines()[3:] if "ALLOW" in line}
    )


def test_firewall_rules_server(podman_host):
    net = _ipv4(podman_host(SERVER))[1]
    rules = _ufw_rules(podman_host(SERVER))
    assert rules == sorted(["22/tcp ALLOW Anywhere", f"8002/tcp ALLOW {net}", f"8003/tcp ALLOW {net}"]), rules
    assert "deny (incoming)" in podman_host(SERVER).check_output("ufw status verbose")


def test_firewall_rules_client(podman_host):
    assert _ufw_rules(podman_host(CLIENT)) == ["22/tcp ALLOW Anywhere"]


def test_firewall_blocks_unlisted_port(podman_host):
    server, client = podman_host(SERVER), podman_host(CLIENT)
    server_ip = _ipv4(server)[0]
    server.run("systemd-run --unit edgefl-test-listener python3 -m http.server 9000")
    try:
        assert server.socket("tcp://0.0.0.0:9000").is_listening or server.run("sleep 2").rc == 0
        probe = "python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)' %s %s"
        assert client.run(probe, server_ip, "8002").rc == 0
        assert client.run(probe, server_ip, "9000").rc != 0
        # the listener itself works: reachable from inside the server
        assert server.run(probe, "127.0.0.1", "9000").rc == 0
    finally:
        server.run("systemctl stop edgefl-test-listener")


# --- nvflare_admin (on the control node) ---------------------------------------------
def test_admin_console_reaches_server(podman_host):
    server_ip = _ipv4(podman_host(SERVER))[0]
    ws = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "workspace")
    kit = os.path.join(ws, "admin", "admin@nvidia.com")
    with open(os.path.join(kit, "startup", "fed_admin.json")) as f:
        assert json.load(f)["admin"]["host"] == server_ip  # fl-server does not resolve on the control node
    assert oct(os.stat(os.path.join(kit, "startup", "client.key")).st_mode & 0o777) == "0o600"
    assert os.access(os.path.join(kit, "fl_admin"), os.X_OK)
    code = (
        "from nvflare.fuel.flare_api.flare_api import new_secure_session\n"
        "s = new_secure_session('admin@nvidia.com', %r, timeout=30)\n"
        "print(sorted(c.name for c in s.get_system_info().client_info))\n"
        "s.close()\n" % kit
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "site-1" in out.stdout
