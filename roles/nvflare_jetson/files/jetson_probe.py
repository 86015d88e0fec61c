# Copyright: contributors to edgefl.nvflare
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only probes of edgefl.nvflare.nvflare_jetson: read the device, decide what to change.

Runs on the TARGET with its system python3 (ansible.builtin.script, executable:): JetPack 4
ships Python 3.6, so no walrus, no f-string '=', no subprocess capture_output/text.

    jetson_probe.py detect '<json>'     the board facts (nvflare_jetson_device)
    jetson_probe.py power '<json>'      the nvpmodel mode to set, the current one (nvpmodel -q)
    jetson_probe.py swap '<json>'       the swap file's state and what to do about it
    jetson_probe.py uninstall '<json>'  what tasks_from: uninstall has to remove
    jetson_probe.py wheels '<json>'     run with the VENV's python: the wheels missing from it
    jetson_probe.py sandbox '<json>'    the systemd-run -p properties of the NVFLARE unit's sandbox

One JSON object on stdout.
"""

import glob
import json
import os
import re
import stat
import subprocess
import sys

SWAP_SIGNATURES = (b"SWAPSPACE2", b"SWAP-SPACE")
# mkswap writes the signature at the end of the first page; the kernel's page size decides it.
PAGE_SIZES = (4096, 16384, 65536)


def read(path, mode="r"):
    """The file's content, None when it cannot be read."""
    try:
        with open(path, mode) as f:
            return f.read()
    except (IOError, OSError):
        return None


def auto_swap_mb(ram_mb):
    """4 GiB up to 4 GiB of RAM, else half the RAM rounded up to whole GiB, at most 8 GiB."""
    if ram_mb <= 4096:
        return 4096
    half_gib = -(-ram_mb // 2048)  # ceil(ram_mb / 2 / 1024)
    return min(8192, half_gib * 1024)


# The L4T device nodes CUDA opens, relative to /dev (NVIDIA's container toolkit l4t/devices.csv and strace of
# cuInit on the boards): JetPack 4 (L4T R32) nvhost-ctrl + nvhost-*-gpu + nvmap; JetPack 5 (R35) adds
# nvhost-{nvsched,power,prof-ctx,prof-dev}-gpu and /dev/nvgpu/igpu0/*; JetPack 6 (R36) adds host1x-fence,
# the DRM render node and, with the OpenRM display driver, /dev/nvidia*. The multimedia and camera engines
# (nvhost-vic, -nvdec, -msenc, -nvjpg, -isp, -vi, -nvdla*) are not for jobs and stay hidden.
GPU_DEVICE_GLOBS = (
    "nvhost-ctrl",
    "nvhost-*gpu",
    "nvmap",
    "nvgpu/igpu*/*",
    "host1x-fence",
    "nvidia*",
    "dri/renderD*",
)
# L4T gives these groups the GPU nodes (root:video 0660; the render node root:render on JetPack 6).
GPU_GROUPS = ("video", "render")


def group_exists(name, group_file):
    for line in (read(group_file) or "").splitlines():
        if line.split(":", 1)[0] == name:
            return True
    return False


def gpu_access(dev_dir, group_file):
    """The GPU device nodes present under dev_dir (char devices, sorted) and the GPU groups that exist."""
    nodes = set()
    for pattern in GPU_DEVICE_GLOBS:
        for path in glob.glob(os.path.join(dev_dir, pattern)):
            try:
                is_char = stat.S_ISCHR(os.stat(path).st_mode)
            except OSError:
                continue
            if is_char:
                nodes.add(path)
    return {
        "devices": sorted(nodes),
        "groups": [g for g in GPU_GROUPS if group_exists(g, group_file)],
    }


def detect(args):
    release = read(args["release_file"])
    size = int(args.get("swap_size_mb") or 0)
    if release is None:
        return {
            "is_jetson": False,
            "model": "",
            "l4t_release": "",
            "jetpack_major": 0,
            "ram_mb": 0,
            "swap_mb": size if size > 0 else auto_swap_mb(0),
            # not a Jetson: the unit keeps every device hidden
            "gpu": {"devices": [], "groups": []},
        }
    major = re.search(r"#\s*R(\d+)", release)
    rev = re.search(r"REVISION:\s*([0-9.]+)", release)
    l4t_major = major.group(1) if major else ""
    model = (read(args["model_file"]) or "").replace("\x00", "").strip()
    meminfo = read(args["meminfo_file"]) or ""
    total = re.search(r"MemTotal:\s+(\d+)", meminfo)
    ram_mb = int(round(int(total.group(1)) / 1024.0)) if total else 0
    return {
        "is_jetson": True,
        "model": model,
        "l4t_release": (l4t_major + "." + (rev.group(1) if rev else "")) if l4t_major else "",
        "jetpack_major": int(args["jetpack_by_l4t"].get(l4t_major, 0)),
        "ram_mb": ram_mb,
        "swap_mb": size if size > 0 else auto_swap_mb(ram_mb),
        "gpu": gpu_access(args.get("dev_dir", "/dev"), args.get("group_file", "/etc/group")),
    }


MAXN_RE = re.compile(r"<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=MAXN[^>]*>")


def board_max_mode(conf):
    """The board's maximum mode in nvpmodel.conf: the first MAXN* power model, else ID 0."""
    found = MAXN_RE.search(conf or "")
    return int(found.group(1)) if found else 0


def current_mode(query_output):
    """The mode nvpmodel -q reports: its last line that is only a number ('' when none)."""
    numbers = [ln.strip() for ln in (query_output or "").splitlines() if re.match(r"^\s*\d+\s*$", ln)]
    return numbers[-1] if numbers else ""


def power(args):
    mode = int(args["mode"])
    if mode < 0:
        mode = board_max_mode(read(args["conf"]))
    try:
        proc = subprocess.Popen(
            [args["nvpmodel_bin"], "-q"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True
        )
        output = proc.communicate()[0]
    except (IOError, OSError):
        output = ""
    current = current_mode(output)
    return {"mode": mode, "current": current, "differs": current != str(mode)}


def active_swaps(proc_swaps):
    """Paths of the active swap areas in /proc/swaps (the first line is a header)."""
    out = []
    for line in (proc_swaps or "").splitlines()[1:]:
        fields = line.split()
        if fields:
            # the kernel escapes blanks in paths as \040
            out.append(fields[0].replace("\\040", " "))
    return out


def has_swap_signature(path):
    try:
        with open(path, "rb") as f:
            for page in PAGE_SIZES:
                f.seek(page - 10)
                if f.read(10) in SWAP_SIGNATURES:
                    return True
    except (IOError, OSError):
        return False
    return False


def swap(args):
    path = args["swap_file"]
    want = int(args["size_mb"]) * 1048576
    exists = os.path.isfile(path)
    size_ok = exists and os.path.getsize(path) == want
    active = path in active_swaps(read(args.get("proc_swaps", "/proc/swaps")))
    recreate = exists and not size_ok
    create = not exists or recreate
    return {
        "exists": exists,
        "size_bytes": want,
        "active": active,
        # a file of another size is deactivated (when active) and deleted before the new one
        "recreate": recreate,
        "deactivate": recreate and active,
        "create": create,
        "format": create or not has_swap_signature(path),
        "activate": create or not active,
        # only a file the role allocated where there was none is recorded (and removed by uninstall)
        "record": not exists,
    }


def uninstall(args):
    swap_file = (read(args["swap_marker"]) or "").strip()
    python_dir = (read(args["python_marker"]) or "").strip()
    target = read(args["target_marker"])
    units = [u for u in args["units"] if os.path.exists(os.path.join(args["unit_dir"], u))]
    return {
        "units": units,
        "swap_file": swap_file or None,
        "swap_exists": bool(swap_file) and os.path.isfile(swap_file),
        "swap_active": bool(swap_file) and swap_file in active_swaps(read(args.get("proc_swaps", "/proc/swaps"))),
        "python_dir": python_dir or None,
        # restore the boot target: set-default default_target, or remove the link it made when empty
        "restore_target": target is not None,
        "default_target": (target or "").strip() or None,
    }


def normalise(name):
    return name.lower().replace("_", "-")


def installed_distributions(paths):
    """{normalised name: version} from the dist-info METADATA found on `paths` (sys.path)."""
    out = {}
    for path in paths:
        for meta in sorted(glob.glob(os.path.join(path or ".", "*.dist-info", "METADATA"))):
            headers = {}
            with open(meta, errors="replace") as f:
                for line in f:
                    if not line.strip():
                        break
                    key, sep, value = line.partition(":")
                    if sep and key in ("Name", "Version"):
                        headers[key] = value.strip()
            if "Name" in headers:
                out.setdefault(normalise(headers["Name"]), headers.get("Version"))
    return out


def wheels(args, paths=None):
    """The wheel files (<name>-<version>-<tags>.whl) whose name and version the venv does not hold."""
    installed = installed_distributions(sys.path if paths is None else paths)
    missing = []
    for wheel in args["wheels"]:
        parts = wheel.split("-")
        if len(parts) < 2 or installed.get(normalise(parts[0])) != parts[1]:
            missing.append(os.path.join(args["wheel_dir"], wheel))
    return {"python": sys.executable, "missing": missing}


# [Service] settings that are not the sandbox: systemd-run gets every other one.
NOT_SANDBOX = frozenset((
    "Type", "ExecStart", "ExecStartPre", "ExecStartPost", "ExecStop", "ExecStopPost", "ExecReload",
    "Restart", "RestartSec", "TimeoutSec", "TimeoutStartSec", "TimeoutStopSec", "WorkingDirectory",
    "PIDFile", "KillMode", "KillSignal", "WatchdogSec", "StartLimitBurst", "StartLimitIntervalSec",
))
# The systemd version that added each sandbox setting: systemd-run on an older one refuses the
# property, where the unit file only warns and ignores it (JetPack 4: 237, JetPack 5: 245, JetPack 6: 249).
SINCE = {
    "ProtectProc": 247,
    "ProcSubset": 247,
    "ProtectClock": 245,
    "ProtectKernelLogs": 244,
    "ProtectHostname": 242,
    "RestrictSUIDSGID": 242,
}


def unit_settings(text):
    """(key, value) of every setting in the [Service] section of a unit file, in order."""
    out = []
    section = None
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if sep and section == "Service":
            out.append((key.strip(), value.strip()))
    return out


def template_settings(text):
    """The static [Service] settings of the unit template (lines without Jinja): the sandbox the unit
    will have before the service role has installed it."""
    kept = [ln for ln in (text or "").splitlines() if "{{" not in ln and "{%" not in ln]
    return unit_settings("\n".join(kept))


def optional_paths(value):
    """'-' before every path: a directory the service role creates later must not fail the check."""
    return " ".join(p if p.startswith("-") else "-" + p for p in value.split())


def systemd_version():
    """The major version `systemctl --version` reports (0 when it cannot run)."""
    try:
        proc = subprocess.Popen(["systemctl", "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                universal_newlines=True)
        output = proc.communicate()[0]
    except (IOError, OSError):
        return 0
    found = re.match(r"\s*systemd\s+(\d+)", output or "")
    return int(found.group(1)) if found else 0


def sandbox(args):
    """The systemd-run properties that reproduce the NVFLARE unit's sandbox: read from the installed unit,
    else from the unit template with this host's user and GPU settings."""
    installed = read(args["unit_file"])
    if installed is not None:
        source = "unit"
        settings = unit_settings(installed)
    else:
        source = "template"
        gpu = args.get("gpu") or {}
        settings = [("User", args["user"]), ("Group", args["group"])] + template_settings(args["template"])
        if any(k == "PrivateDevices" and v == "yes" for k, v in settings):
            for node in gpu.get("devices") or []:
                settings += [("BindPaths", "-" + node), ("DeviceAllow", node + " rw")]
        if gpu.get("groups"):
            settings.append(("SupplementaryGroups", " ".join(gpu["groups"])))
    version = int(args.get("systemd_version") or 0) or systemd_version()
    props = []
    skipped = []
    for key, value in settings:
        if key in NOT_SANDBOX:
            continue
        if version and version < SINCE.get(key, 0):
            skipped.append(key)
            continue
        if key == "ReadWritePaths":
            value = optional_paths(value)
        props.append(key + "=" + value)
    return {"source": source, "properties": props, "skipped": sorted(set(skipped))}


COMMANDS = {"detect": detect, "power": power, "swap": swap, "uninstall": uninstall, "wheels": wheels, "sandbox": sandbox}


def main(argv):
    if len(argv) != 3 or argv[1] not in COMMANDS:
        sys.stderr.write("usage: jetson_probe.py detect|power|swap|uninstall|wheels|sandbox '<json>'\n")
        return 2
    print(json.dumps(COMMANDS[argv[1]](json.loads(argv[2]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
