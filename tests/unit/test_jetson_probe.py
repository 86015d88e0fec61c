# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/nvflare_jetson/files/jetson_probe.py: the real script on board files and temp swap files."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "roles", "nvflare_jetson", "files", "jetson_probe.py")
FAKES = os.path.join(ROOT, "tests", "molecule", "jetson_fakes")
# vars/main.yml __nvflare_jetson_jetpack_by_l4t
JETPACK_BY_L4T = {"32": 4, "34": 5, "35": 5, "36": 6, "38": 7}
MIB = 1048576


def run(cmd, args):
    proc = subprocess.run(
        [sys.executable, SCRIPT, cmd, json.dumps(args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)


def board(name, tmp_path=None, swap_size_mb=0):
    d = os.path.join(FAKES, name)
    return {
        "release_file": os.path.join(d, "nv_tegra_release"),
        "model_file": os.path.join(d, "model"),
        "meminfo_file": os.path.join(d, "meminfo"),
        "swap_size_mb": swap_size_mb,
        "jetpack_by_l4t": JETPACK_BY_L4T,
    }


# --- detect -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,size,want",
    [
        (
            "orin-nano",
            64,
            {
                "is_jetson": True,
                "model": "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super",
                "l4t_release": "36.4.3",
                "jetpack_major": 6,
                "ram_mb": 7619,
                "swap_mb": 64,
            },
        ),
        (
            "nano",
            0,
            {
                "is_jetson": True,
                "model": "NVIDIA Jetson Nano Developer Kit",
                "l4t_release": "32.7.1",
                "jetpack_major": 4,
                "ram_mb": 3965,
                "swap_mb": 4096,
            },
        ),
        # the Orin's RAM sizes the swap: half of 7619 MiB rounded up to whole GiB
        ("orin-nano", 0, {"ram_mb": 7619, "swap_mb": 4096}),
    ],
)
def test_detect_boards(name, size, want):
    out = run("detect", board(name, swap_size_mb=size))
    for key, value in want.items():
        assert out[key] == value, key
    # the types the facts had before (numbers, not strings)
    assert isinstance(out["jetpack_major"], int) and isinstance(out["ram_mb"], int)


def test_detect_plain_host(tmp_path):
    out = run("detect", dict(board("nano"), release_file=str(tmp_path / "missing")))
    assert out == {
        "is_jetson": False, "model": "", "l4t_release": "", "jetpack_major": 0, "ram_mb": 0, "swap_mb": 4096,
        "gpu": {"devices": [], "groups": []},
    }


def test_detect_unknown_l4t_and_missing_model(tmp_path):
    (tmp_path / "rel").write_text("# R99 (release), REVISION: 1.0, GCID: 1\n")
    (tmp_path / "mem").write_text("MemFree: 1 kB\nMemTotal:       16252928 kB\n")
    out = run(
        "detect",
        dict(board("nano"), release_file=str(tmp_path / "rel"), meminfo_file=str(tmp_path / "mem"), model_file="/nonexistent"),
    )
    assert out["is_jetson"] is True
    assert out["l4t_release"] == "99.1.0" and out["jetpack_major"] == 0
    assert out["model"] == ""
    assert out["ram_mb"] == 15872 and out["swap_mb"] == 8192  # capped at 8 GiB


def test_detect_model_nul_stripped(tmp_path):
    (tmp_path / "model").write_bytes(b"NVIDIA Jetson Xavier NX\x00")
    out = run("detect", dict(board("nano"), model_file=str(tmp_path / "model")))
    assert out["model"] == "NVIDIA Jetson Xavier NX"


@pytest.mark.parametrize("ram_mb,swap_mb", [(0, 4096), (3965, 4096), (4096, 4096), (4097, 3072), (6000, 3072), (7619, 4096), (15872, 8192), (32000, 8192)])
def test_auto_swap_table(tmp_path, ram_mb, swap_mb):
    # 4 GiB up to 4 GiB of RAM, else half the RAM rounded up to GiB, at most 8 GiB
    (tmp_path / "mem").write_text("MemTotal: %d kB\n" % (ram_mb * 1024))
    out = run("detect", dict(board("nano"), meminfo_file=str(tmp_path / "mem")))
    assert out["swap_mb"] == swap_mb


# --- swap ---------------------------------------------------------------------------------

PROC_SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"


def make_swap(path, size_mb, signature=True):
    with open(path, "wb") as f:
        f.truncate(size_mb * MIB)
        if signature:
            f.seek(4096 - 10)
            f.write(b"SWAPSPACE2")


def swap_args(tmp_path, active=(), size_mb=4):
    proc_swaps = tmp_path / "proc-swaps"
    proc_swaps.write_text(PROC_SWAPS_HEADER + "".join("%s  file  4096  0  -2\n" % p for p in active))
    return {"swap_file": str(tmp_path / "swapfile"), "size_mb": size_mb, "proc_swaps": str(proc_swaps)}


def test_swap_fresh(tmp_path):
    out = run("swap", swap_args(tmp_path))
    assert out == {
        "exists": False,
        "size_bytes": 4 * MIB,
        "active": False,
        "recreate": False,
        "deactivate": False,
        "create": True,
        "format": True,
        "activate": True,
        "record": True,
    }


def test_swap_in_place_and_active_needs_nothing(tmp_path):
    make_swap(tmp_path / "swapfile", 4)
    out = run("swap", swap_args(tmp_path, active=[str(tmp_path / "swapfile")]))
    assert out["exists"] and out["active"]
    for key in ("recreate", "deactivate", "create", "format", "activate", "record"):
        assert out[key] is False, key


def test_swap_formatted_but_inactive_is_activated(tmp_path):
    # a container: swapon is refused, the next run tries again and formats nothing
    make_swap(tmp_path / "swapfile", 4)
    out = run("swap", swap_args(tmp_path, active=["/other"]))
    assert out["activate"] is True and out["format"] is False and out["create"] is False


def test_swap_unformatted_is_formatted(tmp_path):
    make_swap(tmp_path / "swapfile", 4, signature=False)
    out = run("swap", swap_args(tmp_path))
    assert out["format"] is True and out["create"] is False and out["record"] is False


def test_swap_wrong_size_active_is_replaced_not_recorded(tmp_path):
    make_swap(tmp_path / "swapfile", 2)
    out = run("swap", swap_args(tmp_path, active=[str(tmp_path / "swapfile")]))
    assert out["recreate"] and out["deactivate"] and out["create"] and out["format"] and out["activate"]
    # a file that was there before is not the role's
    assert out["record"] is False


def test_swap_signature_on_64k_pages(tmp_path):
    path = tmp_path / "swapfile"
    with open(path, "wb") as f:
        f.truncate(4 * MIB)
        f.seek(65536 - 10)
        f.write(b"SWAPSPACE2")
    assert run("swap", swap_args(tmp_path))["format"] is False


def test_swap_path_with_blank_in_proc_swaps(tmp_path):
    d = tmp_path / "my dir"
    d.mkdir()
    make_swap(d / "swapfile", 4)
    args = swap_args(tmp_path, active=[str(d / "swapfile").replace(" ", "\\040")])
    args["swap_file"] = str(d / "swapfile")
    assert run("swap", args)["active"] is True


def test_real_proc_swaps_readable(tmp_path):
    args = swap_args(tmp_path)
    del args["proc_swaps"]  # the default: /proc/swaps
    assert run("swap", args)["active"] is False


# --- uninstall ----------------------------------------------------------------------------


def uninstall_args(tmp_path):
    units = tmp_path / "units"
    units.mkdir(exist_ok=True)
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    proc_swaps = tmp_path / "proc-swaps"
    if not proc_swaps.exists():
        proc_swaps.write_text(PROC_SWAPS_HEADER)
    return {
        "unit_dir": str(units),
        "units": ["nvflare-jetson-power.service", "nvflare-jetson-metrics.service"],
        "swap_marker": str(state / "jetson-swap"),
        "python_marker": str(state / "jetson-python"),
        "target_marker": str(state / "jetson-default-target"),
        "proc_swaps": str(proc_swaps),
    }


def test_uninstall_where_the_role_never_ran(tmp_path):
    out = run("uninstall", uninstall_args(tmp_path))
    assert out == {
        "units": [],
        "swap_file": None,
        "swap_exists": False,
        "swap_active": False,
        "python_dir": None,
        "restore_target": False,
        "default_target": None,
    }


def test_uninstall_target_link_to_remove(tmp_path):
    args = uninstall_args(tmp_path)
    # the role recorded that /etc had no default.target link
    (tmp_path / "state" / "jetson-default-target").write_text("\n")
    out = run("uninstall", args)
    assert out["restore_target"] is True and out["default_target"] is None


def test_uninstall_reads_the_records(tmp_path):
    args = uninstall_args(tmp_path)
    (tmp_path / "units" / "nvflare-jetson-power.service").write_text("[Unit]\n")
    swap = tmp_path / "swapfile"
    make_swap(swap, 1)
    (tmp_path / "proc-swaps").write_text(PROC_SWAPS_HEADER + "%s file 1024 0 -2\n" % swap)
    (tmp_path / "state" / "jetson-swap").write_text("%s\n" % swap)
    (tmp_path / "state" / "jetson-python").write_text("/opt/nvflare/python\n")
    (tmp_path / "state" / "jetson-default-target").write_text("graphical.target\n")
    out = run("uninstall", args)
    assert out == {
        "units": ["nvflare-jetson-power.service"],
        "swap_file": str(swap),
        "swap_exists": True,
        "swap_active": True,
        "python_dir": "/opt/nvflare/python",
        "restore_target": True,
        "default_target": "graphical.target",
    }


def test_uninstall_recorded_swap_already_gone(tmp_path):
    args = uninstall_args(tmp_path)
    (tmp_path / "state" / "jetson-swap").write_text("/nonexistent/swapfile\n")
    out = run("uninstall", args)
    assert out["swap_file"] == "/nonexistent/swapfile"
    assert out["swap_exists"] is False and out["swap_active"] is False


def test_usage_error():
    proc = subprocess.run([sys.executable, SCRIPT, "nope", "{}"], stderr=subprocess.PIPE, text=True, check=False)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_source_parses_as_python_36():
    """It runs on the device's /usr/bin/python3: 3.6 on JetPack 4."""
    with open(SCRIPT) as f:
        ast.parse(f.read(), feature_version=(3, 6))


@pytest.mark.skipif(shutil.which("mkswap") is None, reason="needs mkswap")
def test_real_mkswap_signature_is_recognised(tmp_path):
    make_swap(tmp_path / "swapfile", 4, signature=False)
    subprocess.run(["mkswap", str(tmp_path / "swapfile")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    assert run("swap", swap_args(tmp_path))["format"] is False


# --- wheels (run with the venv's python) ---------------------------------------------------


def fake_site(tmp_path, dists):
    site = tmp_path / "site-packages"
    for name, version in dists:
        d = site / ("%s-%s.dist-info" % (name, version))
        d.mkdir(parents=True)
        (d / "METADATA").write_text("Metadata-Version: 2.1\nName: %s\nVersion: %s\n\nbody\n" % (name, version))
    return site


def run_wheels(site, names, wheel_dir="/opt/nvflare/jetson-wheels"):
    proc = subprocess.run(
        [sys.executable, "-S", SCRIPT, "wheels", json.dumps({"wheel_dir": wheel_dir, "wheels": names})],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(site)),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


TORCH = "torch-2.5.0a0+872d972e41.nv24.08-cp310-cp310-linux_aarch64.whl"
VISION = "torchvision-0.20.0a0+afc54f7-cp310-cp310-linux_aarch64.whl"


def test_wheels_all_missing_from_an_empty_venv(tmp_path):
    out = run_wheels(fake_site(tmp_path, []), [TORCH, VISION])
    assert out["missing"] == ["/opt/nvflare/jetson-wheels/" + TORCH, "/opt/nvflare/jetson-wheels/" + VISION]
    assert out["python"] == sys.executable


def test_wheels_installed_with_the_same_version_are_skipped(tmp_path):
    site = fake_site(tmp_path, [("torch", "2.5.0a0+872d972e41.nv24.08"), ("numpy", "1.26.4")])
    assert run_wheels(site, [TORCH, VISION])["missing"] == ["/opt/nvflare/jetson-wheels/" + VISION]


def test_wheels_other_version_is_missing(tmp_path):
    site = fake_site(tmp_path, [("torch", "2.3.0")])
    assert run_wheels(site, [TORCH])["missing"] == ["/opt/nvflare/jetson-wheels/" + TORCH]


def test_wheels_name_normalised(tmp_path):
    # Jetson_Stats-4.2.0 installed as jetson-stats; wheel file names use underscores
    site = fake_site(tmp_path, [("Jetson-Stats", "4.2.0")])
    assert run_wheels(site, ["jetson_stats-4.2.0-py3-none-any.whl"])["missing"] == []


# --- power ---------------------------------------------------------------------------------


def fake_nvpmodel(tmp_path, output, rc=0):
    path = tmp_path / "nvpmodel"
    path.write_text("#!/bin/sh\necho \"$*\" >>%s\nprintf '%%s' '%s'\nexit %d\n" % (tmp_path / "calls", output, rc))
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(
    "name,query,mode,want",
    [
        # the Orin Nano's maximum is MAXN_SUPER, ID 2 (not ID 0)
        ("orin-nano", "NV Power Mode: 25W\n1\n", -1, {"mode": 2, "current": "1", "differs": True}),
        ("orin-nano", "NV Power Mode: MAXN_SUPER\n2\n", -1, {"mode": 2, "current": "2", "differs": False}),
        # the Nano's MAXN is ID 0
        ("nano", "NV Power Mode: MAXN\n0\n", -1, {"mode": 0, "current": "0", "differs": False}),
        # an explicit mode wins over the board's maximum
        ("orin-nano", "NVPM WARN: fan mode is not set!\nNV Power Mode: MAXN_SUPER\n2\n", 3, {"mode": 3, "current": "2", "differs": True}),
    ],
)
def test_power_modes(tmp_path, name, query, mode, want):
    args = {"conf": os.path.join(FAKES, name, "nvpmodel.conf"), "mode": mode, "nvpmodel_bin": fake_nvpmodel(tmp_path, query)}
    assert run("power", args) == want
    assert (tmp_path / "calls").read_text() == "-q\n"  # one query, nothing else


def test_power_without_maxn_in_conf_is_mode_0(tmp_path):
    (tmp_path / "conf").write_text("< POWER_MODEL ID=0 NAME=10W >\n< POWER_MODEL ID=1 NAME=5W >\n")
    args = {"conf": str(tmp_path / "conf"), "mode": -1, "nvpmodel_bin": fake_nvpmodel(tmp_path, "0\n")}
    assert run("power", args) == {"mode": 0, "current": "0", "differs": False}


def test_power_nvpmodel_missing_or_failing(tmp_path):
    conf = os.path.join(FAKES, "nano", "nvpmodel.conf")
    assert run("power", {"conf": conf, "mode": -1, "nvpmodel_bin": "/nonexistent/nvpmodel"}) == {
        "mode": 0,
        "current": "",
        "differs": True,
    }
    failing = fake_nvpmodel(tmp_path, "NVPM ERROR: cannot read\n", rc=1)
    assert run("power", {"conf": conf, "mode": -1, "nvpmodel_bin": failing})["differs"] is True
