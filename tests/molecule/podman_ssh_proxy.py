"""SSH ProxyCommand that reaches a Molecule container's own sshd over TCP (ProxyUseFdpass).

    ssh -o ProxyCommand="python3 podman_ssh_proxy.py %h KEY.pub" -o ProxyUseFdpass=yes root@CONTAINER

The Molecule scenarios reach their containers over SSH with pipelining, the way site.yml reaches a real device
(.config/molecule/config.yml, provisioner.connection_options), instead of through the podman connection plugin:
that plugin cannot pipeline, so every task costs several `podman exec` calls, and the suite's 2 cores spent much
of their time in them (bench/README.md, "Molecule connection").

For the container named by the first argument this script:
1. writes the public key (second argument) to root's authorized_keys through the container's mount point on
   this host (rootful podman), when it is not there yet: the test images have openssh-server but no key;
2. connects to port 22 of the container's first address that answers, waiting up to EDGEFL_PROXY_WAIT seconds
   (default 60) for a container that is still booting (sshd starts after its host keys are made);
3. hands the connected socket to ssh (ProxyUseFdpass) and exits; ssh then talks to sshd directly. sshd sees a
   real TCP connection, so SSH_CONNECTION names port 22, as on a device (the firewall role keeps that port open).

ssh multiplexes later sessions over one master connection (ControlPersist), so this runs once per host and
master. Errors go to stderr and exit 255: Ansible reports the host as unreachable.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time


def fail(msg: str) -> None:
    sys.stderr.write("podman_ssh_proxy: %s\n" % msg)
    sys.exit(255)


def podman(*args: str) -> str:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        fail("podman %s: %s" % (" ".join(args), proc.stderr.strip() or "exit %d" % proc.returncode))
    return proc.stdout.strip()


def install_key(name: str, pubkey: str) -> None:
    root = podman("mount", name)
    ssh_dir = os.path.join(root, "root", ".ssh")
    path = os.path.join(ssh_dir, "authorized_keys")
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == pubkey:
                return
    except OSError:
        pass
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(pubkey)
    os.replace(tmp, path)


def connect(name: str, wait: float) -> socket.socket:
    deadline = time.monotonic() + wait
    error = "no address"
    while True:
        fmt = "{{.State.Running}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        words = podman("inspect", "--type", "container", "--format", fmt, name).split()
        if not words or words[0] != "true":
            fail("container %s is not running" % name)
        for address in words[1:]:
            try:
                return socket.create_connection((address, 22), timeout=5)
            except OSError as exc:
                error = "%s:22: %s" % (address, exc)
        if time.monotonic() >= deadline:
            fail("sshd of %s did not answer within %ss (%s)" % (name, wait, error))
        time.sleep(0.5)


def main() -> None:
    if len(sys.argv) != 3:
        fail("usage: podman_ssh_proxy.py CONTAINER PUBLIC_KEY_FILE")
    name, pubkey_file = sys.argv[1], sys.argv[2]
    try:
        with open(pubkey_file, encoding="utf-8") as f:
            pubkey = f.read()
    except OSError as exc:
        fail("cannot read the public key: %s (tests/molecule/ssh_key.sh makes it)" % exc)
    install_key(name, pubkey)
    conn = connect(name, float(os.environ.get("EDGEFL_PROXY_WAIT", "60")))
    out = socket.socket(fileno=sys.stdout.fileno())
    socket.send_fds(out, [b"\0"], [conn.fileno()])


if __name__ == "__main__":
    main()
