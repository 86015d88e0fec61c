"""Where the CPU of a cold deploy goes, per added host: site.yml vs the manual guide (issue #15).

Wall time per added host is bounded below by the CPU each added host costs, divided by the cores of the machine
that runs the control node and the containers (2 here). This benchmark measures that CPU for a cold site.yml and
for bench/manual_guide.sh, on fresh containers (CLIENTS=N scripts/sandbox.sh containers), at each N of --sizes:
  wall           seconds from start to every client registered
  machine CPU    /proc/stat (user, nice, system, irq, softirq, steal) over the run
  hosts CPU      the containers' cgroups (cpu.stat usage_usec): what runs on the devices
  control CPU    machine CPU minus hosts CPU: ansible-playbook and its workers, ssh, podman (the guide's
                 podman exec / cp), the kernel
  tasks          for site.yml: task results per client host (ok, changed, skipped) from the play recap
With process accounting (the acct package's accton; the bench does not install it), also the CPU of the processes
that exited during the run, by command name, on either side (ansible-playboo: ansible-playbook's workers).
The slopes over N are the CPU-seconds each added host costs. CPU-seconds count work, not waiting, so they are
steadier than wall times on this noisy machine; both deploys are measured in the same run.
Writes bench/results/fleet-cpu.json (or --out) and prints a table. Tears the sandbox down at the start and the end.
  .venv/bin/python bench/bench_fleet_cpu.py [--sizes 3,10] [--out FILE]
"""

import argparse
import collections
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_federation as bf  # noqa: E402  (sh, head_commit, newest_wheelhouse)
import bench_fleet as fleet  # noqa: E402  (inventory, slope)

ROOT = bf.ROOT
OUT = os.path.join(ROOT, "bench", "results", "fleet-cpu.json")
PREFIX = "edgefl-sbx-"


def machine_cpu():
    """CPU-seconds the machine has spent working since boot (/proc/stat, idle and iowait left out)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    ticks = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    return sum(int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4)) / ticks


def containers():
    """{container id: name} of the sandbox's running containers."""
    out = bf.sh(["podman", "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}"])[0].stdout
    return {cid: name[len(PREFIX):] for cid, name in (line.split() for line in out.splitlines() if line.strip())
            if name.startswith(PREFIX)}


def _usage(path):
    """CPU-seconds of the cgroup at path: usage_usec of cpu.stat (cgroup v2, or the unified tree of a hybrid
    layout), else cpuacct.usage (cgroup v1, nanoseconds); None when it has neither."""
    try:
        with open(os.path.join(path, "cpu.stat")) as f:
            for line in f:
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
    except OSError:
        pass
    try:
        with open(os.path.join(path, "cpuacct.usage")) as f:
            return int(f.read()) / 1e9
    except OSError:
        return None


def cgroup_dirs(ids):
    """{container id: its cgroup directory}: a directory under /sys/fs/cgroup named after the id (libpod-<id>,
    libpod-<id>.scope) whose CPU usage can be read."""
    found = {}
    for top, dirs, dummy in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            for cid in ids:
                if cid not in found and cid in d and _usage(os.path.join(top, d)) is not None:
                    found[cid] = os.path.join(top, d)
        if top.count(os.sep) > 6:
            dirs[:] = []
    return found


def hosts_cpu(dirs):
    """{container id: CPU-seconds} from each container's cgroup."""
    return {cid: _usage(d) for cid, d in dirs.items()}


def comp_t(value):
    """The kernel's comp_t (13-bit mantissa, 3-bit base-8 exponent) -> ticks."""
    return (value & 0x1FFF) << (3 * ((value >> 13) & 7))


def read_acct(path):
    """acct v3 records (struct acct_v3 of linux/acct.h, 64 bytes) -> [(command name, CPU-seconds)]."""
    with open(path, "rb") as f:
        data = f.read()
    recs = []
    for off in range(0, len(data) - len(data) % 64, 64):
        rec = data[off:off + 64]
        if rec[1] != 3:
            continue
        utime, stime = struct.unpack_from("=HH", rec, 32)
        comm = rec[48:64].split(b"\0")[0].decode(errors="replace")
        recs.append((comm, (comp_t(utime) + comp_t(stime)) / 100.0))
    return recs


def processes(path, hosts):
    """CPU-seconds per host of the exited processes, by command name (the 12 largest)."""
    total = collections.Counter()
    for comm, cpu in read_acct(path):
        total[comm] += cpu / hosts
    return {comm: round(v, 2) for comm, v in total.most_common(12)}


def accounting():
    """Whether this bench can use process accounting: accton present, and no system-wide accounting to disturb."""
    if not shutil.which("accton"):
        return False, "accton not found (apt-get install acct for the per-process table)"
    active = subprocess.run(["systemctl", "is-active", "acct"], capture_output=True, text=True,
                            check=False) if shutil.which("systemctl") else None
    if active and active.stdout.strip() == "active":
        return False, "the acct service is active: this bench would redirect the system's accounting"
    return True, ""


def measure(kind, n, forks, use_acct):
    """One cold deploy of kind (ansible | guide) with n clients on fresh containers -> its figures."""
    fleet.fresh(n)
    ids = containers()
    dirs = cgroup_dirs(ids)
    if len(dirs) != n + 1:
        raise SystemExit("bench: found the cgroups of %d of the %d containers" % (len(dirs), n + 1))
    work = tempfile.mkdtemp(prefix="edgefl-bench-cpu-")
    pacct = os.path.join(work, "pacct")
    env = dict(bf.ENV, CLIENTS=str(n), ANSIBLE_FORKS=str(forks), FORKS=str(forks))
    if kind == "ansible":
        cmd = ["ansible-playbook", "-i", fleet.inventory(n), "site.yml", "-e", "nvflare_workspace=" + work + "/ws"]
    else:
        cmd = ["bench/manual_guide.sh", work + "/guide", bf.newest_wheelhouse()]
    if use_acct:
        open(pacct, "wb").close()
        bf.sh(["accton", pacct])
    m0, h0 = machine_cpu(), hosts_cpu(dirs)
    try:
        proc, wall = bf.sh(cmd, env=env)
    finally:
        m1, h1 = machine_cpu(), hosts_cpu(dirs)
        if use_acct:
            bf.sh(["accton", "off"])
    hosts = n + 1
    on_hosts = sum(h1[c] - h0[c] for c in dirs)
    fig = {"wall_s": round(wall, 1), "machine_cpu_s": round(m1 - m0, 1), "hosts_cpu_s": round(on_hosts, 1),
           "control_cpu_s": round(m1 - m0 - on_hosts, 1)}
    if kind == "ansible":
        recap = {m.group(1): [int(x) for x in m.group(2, 3, 4)] for m in re.finditer(
            r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=\d+\s+skipped=(\d+)", proc.stdout,
            re.M)}
        client = recap.get("site-1")
        if client:
            fig["tasks_per_client"] = {"ok": client[0], "changed": client[1], "skipped": client[2]}
    if use_acct:
        fig["processes_per_host"] = processes(pacct, hosts)
    shutil.rmtree(work, ignore_errors=True)
    return fig


def main():
    global OUT  # pylint: disable=global-statement
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="3,10", help="comma-separated client counts (at least two, for the slopes)")
    ap.add_argument("--max-forks", type=int, default=100, help="forks (and the guide's hosts at a time) = "
                                                               "min(2 (N + 1), this), as in bench_fleet.py")
    ap.add_argument("--out", default=OUT, help="the JSON file to write (default bench/results/fleet-cpu.json)")
    args = ap.parse_args()
    OUT = os.path.abspath(args.out)
    sizes = sorted(int(x) for x in args.sizes.split(","))
    if len(sizes) < 2:
        raise SystemExit("bench: give at least two sizes (--sizes 3,10): the slopes need them")
    use_acct, why = accounting()
    if not use_acct:
        print("bench: no per-process table: " + why, flush=True)
    bf.sh(["scripts/setup.sh"])
    bf.sh(["scripts/build-image.sh"])
    results = {"machine": {"cpus": os.cpu_count()}, "commit": bf.head_commit(mark_dirty=True),
               "date": time.strftime("%Y-%m-%d"), "sizes": {}}
    for i, n in enumerate(sizes):
        forks = min(2 * (n + 1), args.max_forks)
        # Ansible first at the first size: site.yml builds the control-node wheelhouse the guide installs from
        order = ["ansible", "guide"] if i % 2 == 0 else ["guide", "ansible"]
        row = {"order": order, "forks": forks}
        for kind in order:
            row[kind] = measure(kind, n, forks, use_acct)
            print("N=%d %-7s wall %6.1f s  machine CPU %6.1f s  hosts %6.1f s  control %6.1f s"
                  % (n, kind, row[kind]["wall_s"], row[kind]["machine_cpu_s"], row[kind]["hosts_cpu_s"],
                     row[kind]["control_cpu_s"]), flush=True)
        results["sizes"][str(n)] = row
    bf.sh(["scripts/sandbox.sh", "down"])

    rows = results["sizes"]
    per_host = {}
    for kind in ("ansible", "guide"):
        per_host[kind] = {
            key: round(fleet.slope(sizes, [rows[str(n)][kind][key] for n in sizes]), 2)
            for key in ("wall_s", "machine_cpu_s", "hosts_cpu_s", "control_cpu_s")}
        # the least wall time an added host can cost when its CPU is spread over every core
        per_host[kind]["cpu_bound_wall_s"] = round(per_host[kind]["machine_cpu_s"] / os.cpu_count(), 2)
    results["per_added_host"] = per_host
    results["ratios"] = {key: round(per_host["ansible"][key] / per_host["guide"][key], 2)
                         for key in ("wall_s", "machine_cpu_s", "hosts_cpu_s", "control_cpu_s")
                         if per_host["guide"][key]}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(results, f, indent=2)

    print("\nper added host (slope over N = %s)" % ",".join(map(str, sizes)))
    print("%-8s %10s %14s %10s %12s %16s" % ("", "wall s", "machine CPU s", "hosts CPU s", "control CPU s",
                                             "CPU-bound wall s"))
    for kind in ("ansible", "guide"):
        p = per_host[kind]
        print("%-8s %10s %14s %10s %12s %16s" % (kind, p["wall_s"], p["machine_cpu_s"], p["hosts_cpu_s"],
                                                 p["control_cpu_s"], p["cpu_bound_wall_s"]))
    print("ansible / guide:", results["ratios"])
    big = rows[str(sizes[-1])]
    if "processes_per_host" in big["ansible"]:
        for kind in ("ansible", "guide"):
            print("\nN=%d %s, CPU-s per host of the exited processes:" % (sizes[-1], kind))
            print("  " + ", ".join("%s %.2f" % kv for kv in big[kind]["processes_per_host"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
