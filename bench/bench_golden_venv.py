"""Cold path benchmark: the golden venv (nvflare_venv_golden) and Ansible's forks, against pip on every host.

For each N, on fresh containers and a fresh control-node workspace (CLIENTS=N scripts/sandbox.sh containers), four
cold site.yml runs until every client is registered:
  pip-n1    -e nvflare_venv_golden=false, forks N + 1: how bench/bench_fleet.py ran before (pip on every host)
  pip       -e nvflare_venv_golden=false, forks 2 (N + 1)
  build     the default, forks 2 (N + 1), with no packed venv on the control node: one host runs pip and packs the
            venv, the other N hosts unpack it
  cached    the default, forks 2 (N + 1), with the archive the build run left: every host unpacks it (a later
            fleet, add_client)
For each run: wall seconds, the seconds of the venv install tasks (pip / pack / fetch / copy / unpack, from the
task start times in ANSIBLE_LOG_PATH) and the machine's busy CPU seconds (/proc/stat). The order of the three
rotates from one N to the next (cached always after build); the golden archives of the cache are set aside for
the build run and put back after it.
Ratios compare runs of the same N in the same benchmark run.
Writes bench/results/golden-venv.json and prints a table; tears the sandbox down at the start and the end.
  .venv/bin/python bench/bench_golden_venv.py [--sizes 10,25]   (or scripts/bench.sh golden_venv)
"""

import argparse
import datetime
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_federation as bf  # noqa: E402  (sh)
import bench_fleet as fleet  # noqa: E402  (fresh, inventory)

ROOT = bf.ROOT
CACHE = os.path.expanduser("~/.cache/edgefl-nvflare/wheelhouse")
# the tasks that install the venv (roles/nvflare_venv/tasks/pip.yml, pip_install.yml)
VENV_TASKS = re.compile(r"nvflare_venv : (Install NVFLARE and the extra requirements with pip|Copy the wheelhouse "
                        r"archive to the host|Pack the venv pip filled|Fetch the packed venv|Remove the packed venv|"
                        r"Keep the packed venv|Copy the golden venv|Unpack the golden venv)")
TASK_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) .*?\| (?:TASK|PLAY|RUNNING HANDLER) \[(.*?)\]")


def venv_task_seconds(log):
    """Seconds from the start of each venv install task to the start of the next task, summed."""
    starts = []
    with open(log) as f:
        for line in f:
            m = TASK_LINE.match(line)
            if m:
                starts.append((datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f"), m.group(2)))
    return round(sum((b[0] - a[0]).total_seconds() for a, b in zip(starts, starts[1:]) if VENV_TASKS.search(a[1])), 1)


def archives():
    return glob.glob(os.path.join(CACHE, "*", "venv-*.tar.gz"))


def set_aside():
    """Move the golden archives out of the cache; returns where they went."""
    keep = tempfile.mkdtemp(prefix="edgefl-bench-golden-")
    for path in archives():
        os.makedirs(os.path.join(keep, os.path.basename(os.path.dirname(path))), exist_ok=True)
        shutil.move(path, os.path.join(keep, os.path.basename(os.path.dirname(path)), os.path.basename(path)))
    return keep


def restore(keep):
    for path in glob.glob(os.path.join(keep, "*", "venv-*.tar.gz")):
        dest = os.path.join(CACHE, os.path.basename(os.path.dirname(path)), os.path.basename(path))
        if not os.path.exists(dest):
            shutil.move(path, dest)
    shutil.rmtree(keep, ignore_errors=True)


def cold(n, forks, mode):
    if mode == "pip-n1":
        forks = min(n + 1, forks)
    fleet.fresh(n)
    ws = tempfile.mkdtemp(prefix="edgefl-bench-golden-ws-")
    log = os.path.join(ws, "ansible.log")
    extra = ["-e", "nvflare_workspace=" + ws] + (["-e", "nvflare_venv_golden=false"] if mode.startswith("pip") else [])
    env = dict(bf.ENV, CLIENTS=str(n), ANSIBLE_FORKS=str(forks), ANSIBLE_LOG_PATH=log)
    cpu0 = bf.busy_cpu()
    proc, secs = bf.sh(["ansible-playbook", "-i", fleet.inventory(n), "site.yml", *extra], env=env)
    cpu = bf.busy_cpu() - cpu0
    unpacked = len(re.findall(r"^changed: \[[^\]]+\]", proc.stdout.split("Unpack the golden venv and check", 1)[-1]
                              .split("TASK [", 1)[0], re.M)) if "Unpack the golden venv and check" in proc.stdout else 0
    return {"forks": forks, "seconds": round(secs, 1), "venv_task_seconds": venv_task_seconds(log), "busy_cpu_seconds": round(cpu),
            "hosts_unpacked": unpacked}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,25", help="comma-separated client counts")
    ap.add_argument("--max-forks", type=int, default=100, help="Ansible forks = min(2 (N + 1), this)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    bf.sh(["scripts/setup.sh"])
    bf.sh(["scripts/build-image.sh"])
    results = {"date": time.strftime("%Y-%m-%d"), "commit": bf.head_commit(mark_dirty=True),
               "machine": {"cpus": os.cpu_count()}, "sizes": {}}
    modes = ["pip-n1", "pip", "build", "cached"]
    for i, n in enumerate(sizes):
        forks = min(2 * (n + 1), args.max_forks)
        order = modes[i % 4:] + modes[:i % 4]
        if order.index("cached") < order.index("build"):
            order.remove("cached")
            order.insert(order.index("build") + 1, "cached")  # cached needs the archive the build run packs
        row = {"order": order, "forks": forks}
        for mode in order:
            keep = set_aside() if mode == "build" else None
            try:
                row[mode] = cold(n, forks, mode)
            finally:
                if keep:
                    restore(keep)  # keeps the archive the build run packed when it has the same name
        for mode in ("pip", "build", "cached"):
            row[mode + "_vs_pip-n1"] = round(row[mode]["seconds"] / row["pip-n1"]["seconds"], 2)
        for mode in ("build", "cached"):
            row[mode + "_vs_pip"] = round(row[mode]["seconds"] / row["pip"]["seconds"], 2)
        results["sizes"][str(n)] = row
        with open(os.path.join(ROOT, "bench", "results", "golden-venv.json"), "w") as f:
            json.dump(results, f, indent=2)
        print("N=%d (%s): pip, forks N+1 %.1f s; pip %.1f s; build %.1f s (%.2f of pip); cached %.1f s (%.2f)"
              % (n, ",".join(order), row["pip-n1"]["seconds"], row["pip"]["seconds"], row["build"]["seconds"],
                 row["build_vs_pip"], row["cached"]["seconds"], row["cached_vs_pip"]), flush=True)
    bf.sh(["scripts/sandbox.sh", "down"])
    print("\n%-4s %-8s %6s %10s %12s %10s %10s %10s" % ("N", "mode", "forks", "cold s", "venv tasks s", "busy CPU s",
                                                        "vs pip-n1", "vs pip"))
    for n in sizes:
        row = results["sizes"][str(n)]
        for mode in modes:
            r = row[mode]
            print("%-4d %-8s %6s %10s %12s %10s %10s %10s" % (
                n, mode, r["forks"], r["seconds"], r["venv_task_seconds"], r["busy_cpu_seconds"],
                row.get(mode + "_vs_pip-n1", ""), row.get(mode + "_vs_pip", "")))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        sys.exit("bench: %s" % exc)
