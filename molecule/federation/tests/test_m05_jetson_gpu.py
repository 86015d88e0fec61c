"""Issue #13.3 in the running federation: the Jetson lookalike site-3 gives its NVFLARE service the GPU
nodes (podman --device stand-ins under the L4T names, root:video 0660) and the video group, with the
sandbox kept; the plain client site-1 (which has GPU-named nodes too) gives its service none of them.

Read-only: nothing here changes the federation."""
from __future__ import annotations

from edgefl_testinfra import systemd_security_exposure
from fedlib import STATE, main_pid, unit

JETSON = "edgefl-f-site-3"
PLAIN = "edgefl-f-site-1"
GPU_NODES = ["/dev/nvhost-ctrl-gpu", "/dev/nvhost-gpu", "/dev/nvhost-as-gpu", "/dev/nvmap", "/dev/nvgpu/igpu0/ctrl"]
ENGINE_NODE = "/dev/nvhost-vic"  # a video engine, not the GPU
# opens every node read-write and prints its owner, group and mode
OPEN = ("import os, stat, sys\n"
        "for p in sys.argv[1:]:\n"
        "    st = os.stat(p); os.close(os.open(p, os.O_RDWR))\n"
        "    print(p, st.st_uid, st.st_gid, oct(stat.S_IMODE(st.st_mode)), stat.S_ISCHR(st.st_mode))\n")


def _status(host, pid):
    fields = {}
    for line in host.check_output("cat /proc/%s/status", pid).splitlines():
        key, value = (line.split(":", 1) + [""])[:2]
        fields[key] = value.split()
    return fields


def _in_service_ns(host, pid, cmd):
    return host.run("nsenter -t %s -m -- %s" % (pid, cmd))


def test_jetson_service_sees_the_gpu_nodes_as_its_user(podman_host):
    host = podman_host(JETSON)
    pid = main_pid(host, JETSON)
    assert pid > 0
    video_gid = int(host.check_output("getent group video").split(":")[2])
    fields = _status(host, pid)
    groups = [int(g) for g in fields["Groups"]]
    assert video_gid in groups, fields["Groups"]
    uid, gid = fields["Uid"][0], fields["Gid"][0]
    assert host.check_output("id -u nvflare") == uid
    # visible in the service's mount namespace, and openable with the service's uid, gid and groups
    res = _in_service_ns(
        host, pid,
        "setpriv --reuid=%s --regid=%s --groups=%s -- python3 -c '%s' %s"
        % (uid, gid, ",".join(fields["Groups"]), OPEN, " ".join(GPU_NODES)))
    assert res.rc == 0, res.stderr
    seen = {line.split()[0]: line.split()[1:] for line in res.stdout.splitlines()}
    assert sorted(seen) == sorted(GPU_NODES)
    for node, (owner, group, mode, is_char) in seen.items():
        assert (owner, group, mode, is_char) == ("0", str(video_gid), "0o660", "True"), node
    # the rest of the sandbox stays: a private /dev without the engine node, no other block or char device
    assert _in_service_ns(host, pid, "test -e %s" % ENGINE_NODE).rc == 1
    assert host.file(ENGINE_NODE).exists
    assert _in_service_ns(host, pid, "test -e /dev/vda -o -e /dev/sda -o -e /dev/mem").rc == 1
    unit_text = host.file("/etc/systemd/system/" + unit(JETSON)).content_string
    gpu_groups = [g for g in ("video", "render") if host.run("getent group %s", g).rc == 0]
    for line in ("PrivateDevices=yes", "DevicePolicy=closed", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "SupplementaryGroups=" + " ".join(gpu_groups), "DeviceAllow=/dev/nvmap rw"):
        assert line in unit_text.splitlines(), line
    assert "DeviceAllow=%s rw" % ENGINE_NODE not in unit_text


def test_plain_client_keeps_the_gpu_hidden(podman_host):
    host = podman_host(PLAIN)
    pid = main_pid(host, PLAIN)
    assert pid > 0
    # the host has GPU-named nodes, its service does not see them and is not in video
    assert host.file("/dev/nvmap").exists and host.file("/dev/nvhost-ctrl-gpu").exists
    for node in ("/dev/nvmap", "/dev/nvhost-ctrl-gpu"):
        assert _in_service_ns(host, pid, "test -e %s" % node).rc == 1, node
    video_gid = host.check_output("getent group video").split(":")[2]
    assert video_gid not in _status(host, pid)["Groups"]
    unit_text = host.file("/etc/systemd/system/" + unit(PLAIN)).content_string
    assert "DeviceAllow" not in unit_text and "BindPaths" not in unit_text and "SupplementaryGroups" not in unit_text


def test_jetson_unit_security_figure(podman_host):
    score = systemd_security_exposure(podman_host(JETSON), unit(JETSON))
    plain = systemd_security_exposure(podman_host(PLAIN), unit(PLAIN))
    STATE["jetson_security"] = score
    STATE["plain_client_security"] = plain
    print("\nsystemd-analyze security %s: %s on the Jetson lookalike, %s on a plain client" % (unit(JETSON), score, plain))
    assert score <= 3.0
