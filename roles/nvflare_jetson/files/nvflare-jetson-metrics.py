# Copyright: contributors to edgefl.nvflare
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sample Jetson load while an NVFLARE job runs and write one CSV row per sample.

Usage: nvflare-jetson-metrics CSV INTERVAL_MS [TEGRASTATS]

With tegrastats (every Jetson) each of its lines is parsed; without it the sampler reads
/proc and /sys (CPU, RAM, swap, GPU load where the kernel exposes it). Python >= 3.6, stdlib only,
because it runs with the device's system Python.
"""
import os
import re
import signal
import subprocess
import sys
import time

FIELDS = ["time", "cpu_pct", "gpu_pct", "ram_used_mb", "ram_total_mb", "swap_used_mb", "power_mw", "temp_c"]
GPU_LOAD_FILES = ["/sys/devices/gpu.0/load", "/sys/devices/platform/gpu.0/load",
                  "/sys/devices/platform/17000000.gpu/load", "/sys/devices/platform/bus@0/17000000.gpu/load"]


def parse_tegrastats(line):
    """Parse one tegrastats line (JetPack 4 to 6 formats) into a dict of FIELDS (minus time)."""
    row = {}
    m = re.search(r"RAM (\d+)/(\d+)MB", line)
    if m:
        row["ram_used_mb"], row["ram_total_mb"] = int(m.group(1)), int(m.group(2))
    m = re.search(r"SWAP (\d+)/(\d+)MB", line)
    if m:
        row["swap_used_mb"] = int(m.group(1))
    m = re.search(r"CPU \[([^\]]*)\]", line)
    if m:
        loads = [int(c.split("%")[0]) for c in m.group(1).split(",") if "%" in c]
        if loads:
            row["cpu_pct"] = round(sum(loads) / float(len(loads)), 1)
    m = re.search(r"GR3D_FREQ (\d+)%", line)
    if m:
        row["gpu_pct"] = int(m.group(1))
    # total board input power: VDD_IN (Orin, JP5+), POM_5V_IN (Nano/TX2), first rail otherwise
    m = (re.search(r"VDD_IN (\d+)mW", line) or re.search(r"POM_5V_IN (\d+)", line)
         or re.search(r"[A-Z0-9_]+ (\d+)mW/\d+mW", line))
    if m:
        row["power_mw"] = int(m.group(1))
    m = re.search(r"\b(?:CPU|cpu)@(-?[\d.]+)C", line)
    if m:
        row["temp_c"] = float(m.group(1))
    return row


def _read(path):
    with open(path) as f:
        return f.read()


def _cpu_times():
    vals = [int(v) for v in _read("/proc/stat").splitlines()[0].split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals), idle


def sample_proc(prev):
    """One /proc + /sys sample; prev holds the previous CPU counters."""
    row = {}
    total, idle = _cpu_times()
    if prev:
        dt, di = total - prev[0], idle - prev[1]
        row["cpu_pct"] = round(100.0 * (dt - di) / dt, 1) if dt > 0 else 0.0
    mem = dict((k, int(v.split()[0])) for k, v in (ln.split(":", 1) for ln in _read("/proc/meminfo").splitlines() if ":" in ln))
    row["ram_total_mb"] = mem.get("MemTotal", 0) // 1024
    row["ram_used_mb"] = (mem.get("MemTotal", 0) - mem.get("MemAvailable", 0)) // 1024
    row["swap_used_mb"] = (mem.get("SwapTotal", 0) - mem.get("SwapFree", 0)) // 1024
    for path in GPU_LOAD_FILES:
        if os.path.exists(path):
            row["gpu_pct"] = int(_read(path).strip() or 0) / 10.0  # per mille
            break
    try:
        row["temp_c"] = int(_read("/sys/class/thermal/thermal_zone0/temp").strip()) / 1000.0
    except (IOError, OSError, ValueError):
        pass
    return row, (total, idle)


def main(argv):
    csv_path, interval_ms = argv[1], int(argv[2])
    tegrastats = argv[3] if len(argv) > 3 else "/usr/bin/tegrastats"
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    with open(csv_path, "w") as out:
        out.write(",".join(FIELDS) + "\n")

        def emit(row):
            row["time"] = "%.3f" % time.time()
            out.write(",".join(str(row.get(f, "")) for f in FIELDS) + "\n")
            out.flush()

        if os.access(tegrastats, os.X_OK):
            proc = subprocess.Popen([tegrastats, "--interval", str(interval_ms)], stdout=subprocess.PIPE,
                                    universal_newlines=True)
            try:
                for line in proc.stdout:
                    if stop:
                        break
                    row = parse_tegrastats(line)
                    if row:
                        emit(row)
            finally:
                proc.terminate()
                proc.wait()
        else:
            prev = None
            while not stop:
                row, prev = sample_proc(prev)
                emit(row)
                time.sleep(interval_ms / 1000.0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
