"""Observable state of nvflare_jetson on fake Jetsons (see tests/molecule/jetson_fakes) and a plain host."""

import csv
import json
import os
import struct

import pytest

EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
JETSONS = ["edgefl-j-orin", "edgefl-j-nano"]
POWER_UNIT = "nvflare-jetson-power.service"

EXPECTED_FACTS = {
    "edgefl-j-orin": {
        "is_jetson": True,
        "model": "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super",
        "l4t_release": "36.4.3",
        "jetpack_major": 6,
        "ram_mb": 7619,
        "swap_mb": 64,
        # the stand-in nodes molecule.yml maps (groups: the GPU groups the image has, checked below)
        "gpu": {"devices": ["/dev/nvhost-ctrl-gpu", "/dev/nvmap"]},
    },
    "edgefl-j-nano": {
        "is_jetson": True,
        "model": "NVIDIA Jetson Nano Developer Kit",
        "l4t_release": "32.7.1",
        "jetpack_major": 4,
        "ram_mb": 3965,
        "swap_mb": 4096,  # sized from RAM: the 4 GB the manual guide used on a Nano
        "gpu": {"devices": []},
    },
}


def _facts(name):
    with open(os.path.join(EPHEMERAL, "facts-%s.json" % name)) as f:
        return json.load(f)


@pytest.mark.parametrize("name", JETSONS)
def test_detection_facts(podman_host, name):
    facts = _facts(name)
    for key, want in EXPECTED_FACTS[name].items():
        if key == "gpu":
            assert facts[key]["devices"] == want["devices"]
            continue
        assert facts[key] == want, key
    host = podman_host(name)
    assert facts["gpu"]["groups"] == [g for g in ("video", "render") if host.run("getent group %s", g).rc == 0]
    assert "video" in facts["gpu"]["groups"]
    assert facts["python"] == "/usr/bin/python3"
    assert facts["python_version"].startswith("3.11.")


def test_plain_host_is_left_alone(podman_host):
    host = podman_host("edgefl-j-plain")
    assert _facts("edgefl-j-plain")["is_jetson"] is False
    assert not host.file("/etc/systemd/system/" + POWER_UNIT).exists
    assert not host.file("/swapfile").exists
    assert "swap" not in host.file("/etc/fstab").content_string
    assert not host.file("/opt/nvflare/jetson-wheels").exists


def _calls(host):
    return [c.strip() for c in host.file("/var/log/jetson-fakes/calls.log").content_string.splitlines()]


def test_orin_commands_issued(podman_host):
    """Board max of the Orin Nano is MAXN_SUPER (ID 2), not ID 0; jetson_clocks runs once per start."""
    calls = [c for c in _calls(podman_host("edgefl-j-orin")) if not c.startswith("tegrastats")]
    # check mode, converge, idempotence each query; the unit applies mode + clocks exactly once
    assert calls == ["nvpmodel -q", "nvpmodel -q", "nvpmodel -m 2", "jetson_clocks", "nvpmodel -q"]


def test_nano_commands_issued(podman_host):
    """Nano: MAXN is ID 0 and already active, clocks disabled -> the unit runs nvpmodel -m 0 only."""
    calls = [c for c in _calls(podman_host("edgefl-j-nano")) if not c.startswith("tegrastats")]
    assert calls == ["nvpmodel -q", "nvpmodel -q", "nvpmodel -m 0", "nvpmodel -q"]


@pytest.mark.parametrize("name,mode,clocks", [("edgefl-j-orin", 2, True), ("edgefl-j-nano", 0, False)])
def test_power_unit(podman_host, name, mode, clocks):
    host = podman_host(name)
    unit = host.file("/etc/systemd/system/" + POWER_UNIT)
    assert unit.mode == 0o644 and unit.user == "root"
    assert "ExecStart=/usr/sbin/nvpmodel -m %d\n" % mode in unit.content_string
    assert ("ExecStart=/usr/bin/jetson_clocks" in unit.content_string) is clocks
    svc = host.service(POWER_UNIT)
    assert svc.is_enabled
    assert host.check_output("systemctl show -p ActiveState --value " + POWER_UNIT) == "active"
    assert host.check_output("systemctl show -p Result --value " + POWER_UNIT) == "success"
    assert host.check_output("nvpmodel -q").splitlines()[-1] == str(mode)


@pytest.mark.parametrize("name,size_mb", [("edgefl-j-orin", 64), ("edgefl-j-nano", 4096)])
def test_swap_file(podman_host, name, size_mb):
    host = podman_host(name)
    swap = host.file("/swapfile")
    assert swap.exists and swap.mode == 0o600 and swap.user == "root"
    assert swap.size == size_mb * 1024 * 1024
    assert host.check_output("blkid -p -s TYPE -o value /swapfile") == "swap"
    fstab = [ln.split() for ln in host.file("/etc/fstab").content_string.splitlines() if ln.startswith("/swapfile")]
    assert fstab == [["/swapfile", "none", "swap", "sw", "0", "0"]]


def test_multi_user_target(podman_host):
    assert podman_host("edgefl-j-orin").check_output("systemctl get-default") == "multi-user.target"
    assert podman_host("edgefl-j-nano").check_output("systemctl get-default") != "multi-user.target"


@pytest.mark.parametrize("name", JETSONS)
def test_torch_wheel_imports_in_venv(podman_host, name):
    host = podman_host(name)
    assert host.file("/opt/nvflare/jetson-wheels/torch-2.3.0+jetsonfake-py3-none-any.whl").mode == 0o644
    out = host.check_output("/opt/nvflare/venv/bin/python -c 'import torch; print(torch.__version__)'")
    assert out == "2.3.0+jetsonfake"
    assert host.package("zlib1g-dev").is_installed


def test_torch_check_saw_cuda_only_in_the_sandbox(podman_host):
    """Converge passed with nvflare_jetson_torch_require_cuda on the Orin: the stand-in torch reports CUDA
    only to a non-root, no_new_privs process that opens the GPU nodes - the check ran as nvflare in the
    unit's sandbox. As root outside it, or on the Nano without GPU nodes, it reports none."""
    code = "import torch; print(torch.cuda.is_available())"
    assert podman_host("edgefl-j-orin").check_output("/opt/nvflare/venv/bin/python -c %s", code) == "False"
    res = podman_host("edgefl-j-nano").run(
        "systemd-run --wait --pipe --quiet -p User=nvflare -p NoNewPrivileges=yes -p SupplementaryGroups=video "
        "-- /opt/nvflare/venv/bin/python -c %s", code)
    assert (res.rc, res.stdout.strip()) == (0, "False"), res.stderr


@pytest.mark.parametrize("name", JETSONS)
def test_metrics_csv(podman_host, name):
    host = podman_host(name)
    assert not host.service("nvflare-jetson-metrics.service").is_running
    # the stand-in records its call in calls.log, or in the unit's journal where the sandbox
    # (ProtectSystem=strict) makes the log read-only
    journal = host.check_output("journalctl -u nvflare-jetson-metrics.service --no-pager -o cat")
    assert "tegrastats --interval 300" in _calls(host) or "jetson-fakes: tegrastats --interval 300" in journal
    with open(os.path.join(EPHEMERAL, "metrics", name + ".csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 5, rows
    times = [float(r["time"]) for r in rows]
    assert times == sorted(times) and times[-1] - times[0] >= 1.0
    for r in rows:
        assert 0 <= float(r["cpu_pct"]) <= 100 and 0 <= float(r["gpu_pct"]) <= 100
        assert int(r["ram_total_mb"]) == 7620 and 2400 <= int(r["ram_used_mb"]) < 3300
        assert 4000 <= int(r["power_mw"]) < 7000


@pytest.mark.parametrize("name", JETSONS)
def test_metrics_plot(name):
    pytest.importorskip("matplotlib", reason="matplotlib (control node, requirements-dev.txt) draws the PNG")
    with open(os.path.join(EPHEMERAL, "metrics", name + ".png"), "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert width >= 600 and height >= 400


def test_no_metrics_on_plain_host():
    assert not os.path.exists(os.path.join(EPHEMERAL, "metrics", "edgefl-j-plain.csv"))
