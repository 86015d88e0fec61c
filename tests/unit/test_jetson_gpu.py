# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""jetson_probe.py detect (GPU nodes, groups) and sandbox (the unit's properties for systemd-run), run as the
real script on L4T-shaped /dev trees and on the real unit template of roles/nvflare_service."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jinja2
import pytest
from ansible.plugins.filter.core import FilterModule as AnsibleFilters

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "roles", "nvflare_jetson", "files", "jetson_probe.py")
TEMPLATE = os.path.join(ROOT, "roles", "nvflare_service", "templates", "nvflare.service.j2")
FAKES = os.path.join(ROOT, "tests", "molecule", "jetson_fakes", "orin-nano")
JETPACK_BY_L4T = {"32": 4, "34": 5, "35": 5, "36": 6, "38": 7}

# What L4T creates (a node per name; the real ones are char devices, root:video 0660)
L4T_NODES = {
    # JetPack 4.6 (L4T R32.7, Nano)
    4: ["nvhost-ctrl", "nvhost-ctrl-gpu", "nvhost-prof-gpu", "nvhost-gpu", "nvhost-as-gpu", "nvhost-dbg-gpu",
        "nvhost-tsg-gpu", "nvhost-ctxsw-gpu", "nvhost-sched-gpu", "nvmap",
        # engines that are not the GPU: hidden
        "nvhost-vic", "nvhost-nvdec", "nvhost-msenc", "nvhost-nvjpg", "nvhost-isp", "nvhost-vi"],
    # JetPack 6 (L4T R36, Orin)
    6: ["nvhost-ctrl-gpu", "nvhost-gpu", "nvhost-as-gpu", "nvhost-ctxsw-gpu", "nvhost-dbg-gpu", "nvhost-nvsched-gpu",
        "nvhost-nvsched_ctrl_fifo-gpu", "nvhost-power-gpu", "nvhost-prof-ctx-gpu", "nvhost-prof-dev-gpu",
        "nvhost-prof-gpu", "nvhost-sched-gpu", "nvhost-tsg-gpu", "nvmap", "nvgpu/igpu0/as", "nvgpu/igpu0/ctrl",
        "nvgpu/igpu0/power", "host1x-fence", "nvidia0", "nvidiactl", "nvidia-modeset", "dri/renderD128",
        "dri/card0", "nvhost-ctrl-nvdla0", "nvsciipc"],
}
HIDDEN = {"nvhost-vic", "nvhost-nvdec", "nvhost-msenc", "nvhost-nvjpg", "nvhost-isp", "nvhost-vi", "dri/card0",
          "nvhost-ctrl-nvdla0", "nvsciipc"}


def run(cmd, args):
    proc = subprocess.run([sys.executable, SCRIPT, cmd, json.dumps(args)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def make_dev(tmp_path, names):
    """A /dev tree whose nodes are symlinks to /dev/null (a char device; mknod needs root)."""
    dev = tmp_path / "dev"
    for name in names:
        path = dev / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/dev/null", path)
    return dev


def group_file(tmp_path, names):
    path = tmp_path / "group"
    path.write_text("".join("%s:x:%d:\n" % (n, 40 + i) for i, n in enumerate(names)))
    return str(path)


def detect(tmp_path, dev, groups):
    return run("detect", {
        "release_file": os.path.join(FAKES, "nv_tegra_release"), "model_file": os.path.join(FAKES, "model"),
        "meminfo_file": os.path.join(FAKES, "meminfo"), "swap_size_mb": 0, "jetpack_by_l4t": JETPACK_BY_L4T,
        "dev_dir": str(dev), "group_file": group_file(tmp_path, groups),
    })


@pytest.mark.parametrize("jetpack", sorted(L4T_NODES))
def test_detect_lists_the_gpu_nodes_only(tmp_path, jetpack):
    dev = make_dev(tmp_path, L4T_NODES[jetpack])
    out = detect(tmp_path, dev, ["root", "video", "render", "nvflare"])
    want = sorted(str(dev / n) for n in L4T_NODES[jetpack] if n not in HIDDEN)
    assert out["gpu"] == {"devices": want, "groups": ["video", "render"]}


def test_detect_skips_files_that_are_not_char_devices(tmp_path):
    dev = make_dev(tmp_path, ["nvmap"])
    (dev / "nvhost-gpu").write_text("")  # a regular file with a GPU name
    (dev / "nvgpu" / "igpu0").mkdir(parents=True)  # a directory the glob also matches
    os.symlink(str(tmp_path / "gone"), dev / "nvidia0")  # a dangling link
    out = detect(tmp_path, dev, ["video"])
    assert out["gpu"] == {"devices": [str(dev / "nvmap")], "groups": ["video"]}


def test_detect_no_render_group_on_older_l4t(tmp_path):
    # Ubuntu 18.04 (JetPack 4) has no render group: SupplementaryGroups must not name it
    out = detect(tmp_path, make_dev(tmp_path, ["nvmap"]), ["video", "videos", "xrender"])
    assert out["gpu"]["groups"] == ["video"]


def render_template(devices, groups, private_devices=True):
    # Ansible renders templates with trim_blocks=True
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True)
    env.filters["comment"] = lambda text: "#\n# " + text + "\n#"
    env.filters["bool"] = AnsibleFilters().filters()["bool"]
    with open(TEMPLATE) as f:
        tmpl = env.from_string(f.read())
    return tmpl.render(
        ansible_managed="Ansible managed", nvflare_service_role="client", nvflare_service_site_name="site-3",
        nvflare_service_user="nvflare", nvflare_service_group="nvflare", nvflare_service_workspace="/srv/ws",
        nvflare_service_environment={}, __nvflare_service_python="/opt/nvflare/venv/bin/python",
        __nvflare_service_module="m", __nvflare_service_fed_json="fed_client.json", __nvflare_service_set_args="a=b",
        nvflare_service_storage_dir="/srv/storage", nvflare_service_private_devices=private_devices,
        __nvflare_service_gpu={"devices": devices, "groups": groups},
    )


def settings(unit_text):
    out = []
    section = None
    for line in unit_text.splitlines():
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            out.append(line)
    return out


GPU = {"devices": ["/dev/nvgpu/igpu0/ctrl", "/dev/nvmap"], "groups": ["video", "render"]}


def test_unit_template_gives_a_jetson_its_gpu_and_keeps_the_sandbox():
    lines = settings(render_template(GPU["devices"], GPU["groups"]))
    for node in GPU["devices"]:
        assert "BindPaths=-" + node in lines and "DeviceAllow=%s rw" % node in lines
    assert "SupplementaryGroups=video render" in lines
    assert "PrivateDevices=yes" in lines and "DevicePolicy=closed" in lines and "ProtectSystem=strict" in lines
    plain = settings(render_template([], []))
    # a host that is not a Jetson: the same unit minus the GPU lines, no device or group at all
    assert not [ln for ln in plain if ln.split("=")[0] in ("BindPaths", "DeviceAllow", "SupplementaryGroups")]
    assert [ln for ln in lines if ln.split("=")[0] not in ("BindPaths", "DeviceAllow", "SupplementaryGroups")] == plain


@pytest.mark.parametrize("value", [False, "false", "no"])
def test_unit_template_without_private_devices_adds_no_device_acl(value):
    # -e nvflare_service_private_devices=false gives the string 'false', which a bare Jinja test reads as true
    lines = settings(render_template(GPU["devices"], GPU["groups"], private_devices=value))
    assert not [ln for ln in lines if ln.startswith(("PrivateDevices", "DevicePolicy", "DeviceAllow", "BindPaths"))]
    assert "SupplementaryGroups=video render" in lines


def sandbox(tmp_path, unit_text=None, version=252, gpu=None):
    unit = tmp_path / "nvflare-client.service"
    if unit_text is not None:
        unit.write_text(unit_text)
    with open(TEMPLATE) as f:
        template = f.read()
    return run("sandbox", {"unit_file": str(unit), "template": template, "user": "nvflare", "group": "nvflare",
                           "gpu": GPU if gpu is None else gpu, "systemd_version": version})


def test_sandbox_from_the_installed_unit(tmp_path):
    out = sandbox(tmp_path, render_template(GPU["devices"], GPU["groups"]))
    assert out["source"] == "unit" and out["skipped"] == []
    props = out["properties"]
    assert props[:2] == ["User=nvflare", "Group=nvflare"]
    # the unit's own service settings are not the sandbox
    assert not [p for p in props if p.split("=")[0] in ("Type", "ExecStart", "Restart", "RestartSec", "WorkingDirectory")]
    # a directory that does not exist yet must not fail the check
    assert "ReadWritePaths=-/srv/ws -/srv/storage" in props
    want = [ln for ln in settings(render_template(GPU["devices"], GPU["groups"]))
            if ln.split("=")[0] not in ("Type", "ExecStart", "Restart", "RestartSec", "TimeoutStopSec",
                                        "WorkingDirectory", "ReadWritePaths")]
    assert [p for p in props if not p.startswith("ReadWritePaths=")] == want


def test_sandbox_before_the_unit_exists_matches_the_unit(tmp_path):
    """The first deploy checks torch before the service role installs the unit: the template's settings
    with this host's GPU are the unit's sandbox (minus the Jinja-made paths and environment)."""
    from_template = sandbox(tmp_path)
    assert from_template["source"] == "template"
    from_unit = sandbox(tmp_path, render_template(GPU["devices"], GPU["groups"]))["properties"]
    dropped = [p for p in from_unit if p not in from_template["properties"]]
    assert sorted(p.split("=")[0] for p in dropped) == ["Environment", "ReadWritePaths"]
    assert sorted(from_template["properties"]) == sorted(p for p in from_unit if p not in dropped)


def test_sandbox_drops_what_old_systemd_run_refuses(tmp_path):
    out = sandbox(tmp_path, render_template(GPU["devices"], GPU["groups"]), version=237)  # JetPack 4 (Ubuntu 18.04)
    assert out["skipped"] == ["ProtectClock", "ProtectHostname", "ProtectKernelLogs", "ProtectProc", "RestrictSUIDSGID"]
    assert not [p for p in out["properties"] if p.split("=")[0] in out["skipped"]]
    out = sandbox(tmp_path, render_template(GPU["devices"], GPU["groups"]), version=245)  # JetPack 5 (Ubuntu 20.04)
    assert out["skipped"] == ["ProtectProc"]


def test_sandbox_reads_this_machines_systemd_version(tmp_path):
    out = sandbox(tmp_path, render_template([], []), version=0)
    assert out["source"] == "unit" and "NoNewPrivileges=yes" in out["properties"]
