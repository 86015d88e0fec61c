"""Issue #13.3 in the running federation: the Jetson lookalike site-3 gives its NVFLARE service the GPU
nodes (podman --device stand-ins under the L4T names, root:video 0660) and the video group, with the
sandbox kept; the plain client site-1 gives its service no device and no GPU group.

In these unprivileged containers systemd runs services without a mount namespace of their own (it skips
PrivateDevices=/BindPaths= where it may not mount), so "the engine node stays hidden" is checked on the
unit's settings, and on the namespace itself only where the service has its own (a real device).
nsenter needs CAP_SYS_PTRACE to open another user's namespace: `podman exec --privileged`.
Read-only: nothing here changes the federation."""
from __future__ import annotations

import subprocess

from edgefl_testinfra import systemd_security_exposure
from fedlib import STATE, main_pid, unit

JETSON = "edgefl-f-site-3"
PLAIN = "edgefl-f-site-1"
GPU_NODES = ["/dev/nvhost-ctrl-gpu", "/dev/nvhost-gpu", "/dev/nvhost-as-gpu", "/dev/nvmap", "/dev/nvgpu/igpu0/ctrl"]
ENGINE_NODE = "/dev/nvhost-vic"  # a video engine, not the GPU
# opens every node read-write and prints its owner, group, mode and whether it is a char device
OPEN = ("import os, stat, sys\n"
        "for p in sys.argv[1:]:\n"
        "    st = os.stat(p); os.close(os.open(p, os.O_RDWR))\n"
        "    print(p, st.st_uid, st.st_gid, oct(stat.S_IMODE(st.st_mode)), stat.S_ISCHR(st.st_mode))\n")


def _status(host, pid):
    fields = {}
    for line in host.check_output("cat /proc/%s/status", str(pid)).splitlines():
        key, value = (line.split(":", 1) + [""])[:2]
        fields[key] = value.split()
    return fields


def _in_service_ns(name, pid, *argv):
    return subprocess.run(["podman", "exec", "--privileged", name, "nsenter", "-t", str(pid), "-m", "--", *argv],
                          capture_output=True, text=True, check=False, timeout=30)


def _own_mount_ns(name, pid):
    links = subprocess.run(["podman", "exec", "--privileged", name, "readlink", "/proc/%s/ns/mnt" % pid, "/proc/1/ns/mnt"],
                           capture_output=True, text=True, check=True, timeout=30).stdout.split()
    return links[0] != links[1]


def _unit_lines(host, name):
    return host.file("/etc/systemd/system/" + unit(name)).content_string.splitlines()


def test_jetson_service_opens_the_gpu_nodes_as_its_user(podman_host):
    host = podman_host(JETSON)
    pid = main_pid(host, JETSON)
    assert pid > 0
    video_gid = host.check_output("getent group video").split(":")[2]
    fields = _status(host, pid)
    assert video_gid in fields["Groups"], fields["Groups"]
    uid, gid = fields["Uid"][0], fields["Gid"][0]
    assert host.check_output("id -u nvflare") == uid
    # in the service's mount namespace, with the service's uid, gid and groups: there and openable rw
    res = _in_service_ns(JETSON, pid, "setpriv", "--reuid=" + uid, "--regid=" + gid,
                         "--groups=" + ",".join(fields["Groups"]), "--", "python3", "-c", OPEN, *GPU_NODES)
    assert res.returncode == 0, res.stderr
    seen = {line.split()[0]: line.split()[1:] for line in res.stdout.splitlines()}
    assert sorted(seen) == sorted(GPU_NODES)
    for node, props in seen.items():
        assert props == ["0", video_gid, "0o660", "True"], node
    # without the video group the same user cannot open them: the group is what gives access
    res = _in_service_ns(JETSON, pid, "setpriv", "--reuid=" + uid, "--regid=" + gid, "--clear-groups", "--",
                         "python3", "-c", OPEN, "/dev/nvmap")
    assert res.returncode != 0 and "Permission denied" in res.stderr


def test_jetson_unit_keeps_the_sandbox_and_leaves_the_engine_out(podman_host):
    host = podman_host(JETSON)
    lines = _unit_lines(host, JETSON)
    gpu_groups = [g for g in ("video", "render") if host.run("getent group %s", g).rc == 0]
    for line in ["PrivateDevices=yes", "DevicePolicy=closed", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "CapabilityBoundingSet=", "SupplementaryGroups=" + " ".join(gpu_groups)]:
        assert line in lines, line
    for node in GPU_NODES:
        assert "BindPaths=-" + node in lines and "DeviceAllow=%s rw" % node in lines, node
    assert not [ln for ln in lines if ENGINE_NODE in ln]
    pid = main_pid(host, JETSON)
    if _own_mount_ns(JETSON, pid):  # a host where systemd may mount: the private /dev lacks the engine node
        assert _in_service_ns(JETSON, pid, "test", "-e", ENGINE_NODE).returncode == 1


def test_plain_client_keeps_the_gpu_hidden(podman_host):
    host = podman_host(PLAIN)
    pid = main_pid(host, PLAIN)
    assert pid > 0
    for node in GPU_NODES:
        assert _in_service_ns(PLAIN, pid, "test", "-e", node).returncode == 1, node
    video_gid = host.check_output("getent group video").split(":")[2]
    assert video_gid not in _status(host, pid)["Groups"]
    lines = _unit_lines(host, PLAIN)
    assert "PrivateDevices=yes" in lines and "DevicePolicy=closed" in lines
    assert not [ln for ln in lines if ln.startswith(("DeviceAllow", "BindPaths", "SupplementaryGroups"))]


def test_jetson_unit_security_figure(podman_host):
    score = systemd_security_exposure(podman_host(JETSON), unit(JETSON))
    plain = systemd_security_exposure(podman_host(PLAIN), unit(PLAIN))
    STATE["jetson_security"] = score
    STATE["plain_client_security"] = plain
    print("\nsystemd-analyze security %s: %s on the Jetson lookalike, %s on a plain client" % (unit(JETSON), score, plain))
    assert score <= 3.0
