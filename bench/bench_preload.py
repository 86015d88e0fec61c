"""site.yml with the edgefl.nvflare.preload callback against without it, in the same run (issue #15).

Ansible forks a worker for every task on every host. Without the callback, each worker that evaluates a template
naming an edgefl.nvflare filter loads and compiles every filter file of the collection again; with it, the
controller loads them once before the first fork (plugins/callback/preload.py). The difference is controller CPU
only, so this bench measures the CPU of ansible-playbook and everything it started and waited for (its workers,
their ssh and local commands), next to the wall time:
- for each N: a cold site.yml on fresh containers with and without the callback (the order alternates by N);
- then, on the last of those fleets, --repeat rounds of the no-change full-path re-run
  (-e nvflare_fast_path=false: every role's checks on every host, changed=0 required) with and without it, in
  alternating order.
"Without" runs with a copy of ansible.cfg that lacks the callbacks_enabled line. Per-added-host figures are
least-squares slopes over N.
  .venv/bin/python bench/bench_preload.py [--sizes 3,10] [--repeat 2]
Writes bench/results/preload.json and prints a table; tears the sandbox down at the start and the end.
"""

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_federation as bf  # noqa: E402  (sh, recap_changed, median, head_commit)
import bench_fleet as fleet  # noqa: E402  (inventory, fresh, slope)

ROOT = bf.ROOT
MODES = ("with", "without")


def config_without_preload():
    """A copy of the repository's ansible.cfg without the callbacks_enabled line (paths made absolute)."""
    with open(os.path.join(ROOT, "ansible.cfg")) as f:
        text = f.read()
    if not re.search(r"^callbacks_enabled\s*=.*edgefl\.nvflare\.preload", text, re.M):
        raise SystemExit("bench: ansible.cfg does not enable edgefl.nvflare.preload; nothing to compare")
    text = re.sub(r"^callbacks_enabled\s*=.*\n", "", text, flags=re.M)
    text = text.replace("./collections", os.path.join(ROOT, "collections"))
    fd, path = tempfile.mkstemp(prefix="edgefl-bench-ansible-", suffix=".cfg")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def site_yml(inv, extra, env):
    """(wall s, CPU s of ansible-playbook and what it waited for, changed per host)."""
    cpu0 = children_cpu()
    proc, secs = bf.sh(["ansible-playbook", "-i", inv, "site.yml", *extra], env=env)
    return round(secs, 1), round(children_cpu() - cpu0, 1), bf.recap_changed(proc.stdout)


def measure(n, forks, repeat, envs, order, last):
    ws = tempfile.mkdtemp(prefix="edgefl-bench-preload-ws-")
    extra = ["-e", "nvflare_workspace=" + ws]
    inv = fleet.inventory(n)
    row = {"forks": forks, "order": list(order), "cold": {}, "full": {m: [] for m in MODES}}
    for mode in order:
        fleet.fresh(n)
        wall, cpu, changed = site_yml(inv, extra, envs[mode])
        if not changed or not all(changed.get(h) for h in changed if h != "localhost"):
            raise SystemExit("bench: the cold run %s the callback at N=%d changed nothing somewhere: %s"
                             % (mode, n, changed))
        row["cold"][mode] = {"wall_s": wall, "control_cpu_s": cpu}
        print("N=%d cold %s the callback: %.1f s, controller CPU %.1f s" % (n, mode, wall, cpu), flush=True)
    if last:
        for r in range(repeat):
            for mode in (MODES if r % 2 == 0 else MODES[::-1]):
                wall, cpu, changed = site_yml(inv, extra + ["-e", "nvflare_fast_path=false"], envs[mode])
                if not changed or any(changed.values()):
                    raise SystemExit("bench: a full-path re-run at N=%d changed something: %s" % (n, changed))
                row["full"][mode].append({"wall_s": wall, "control_cpu_s": cpu})
                print("N=%d full-path re-run %s the callback: %.1f s, controller CPU %.1f s"
                      % (n, mode, wall, cpu), flush=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="3,10", help="comma-separated client counts")
    ap.add_argument("--repeat", type=int, default=2, help="rounds of full-path re-runs (with, without) at the last N")
    ap.add_argument("--max-forks", type=int, default=100, help="Ansible forks = min(2 (N + 2), this)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    bf.sh(["scripts/setup.sh"])
    bf.sh(["scripts/build-image.sh"])
    cfg = config_without_preload()
    results = {"machine": {"cpus": os.cpu_count()}, "commit": bf.head_commit(mark_dirty=True),
               "date": time.strftime("%Y-%m-%d"), "sizes": {}}
    try:
        for i, n in enumerate(sizes):
            forks = min(2 * (n + 2), args.max_forks)
            common = dict(bf.ENV, CLIENTS=str(n), ANSIBLE_FORKS=str(forks))
            envs = {"with": common, "without": dict(common, ANSIBLE_CONFIG=cfg)}
            order = MODES if i % 2 == 0 else MODES[::-1]
            results["sizes"][str(n)] = measure(n, forks, args.repeat, envs, order, i == len(sizes) - 1)
    finally:
        os.unlink(cfg)
        bf.sh(["scripts/sandbox.sh", "down"])
    rows = results["sizes"]
    summary = {}
    for mode in MODES:
        for what in ("wall_s", "control_cpu_s"):
            ys = [rows[str(n)]["cold"][mode][what] for n in sizes]
            if len(sizes) > 1:
                summary["cold_%s_%s_per_host" % (mode, what)] = round(fleet.slope(sizes, ys), 2)
    last = rows[str(sizes[-1])]["full"]
    if last["with"]:
        for what in ("wall_s", "control_cpu_s"):
            w = bf.median([x[what] for x in last["with"]])
            wo = bf.median([x[what] for x in last["without"]])
            summary["full_rerun_%s_with" % what] = w
            summary["full_rerun_%s_without" % what] = wo
            summary["full_rerun_%s_ratio" % what] = round(wo / w, 2) if w else None
    results["summary"] = summary
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "preload.json"), "w") as f:
        json.dump(results, f, indent=2)
    print("\n| N | forks | run | with preload: wall | controller CPU | without: wall | controller CPU | CPU saved |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in sizes:
        r = rows[str(n)]
        w, wo = r["cold"]["with"], r["cold"]["without"]
        print("| %d | %d | cold | %.1f s | %.1f s | %.1f s | %.1f s | %.1f s |"
              % (n, r["forks"], w["wall_s"], w["control_cpu_s"], wo["wall_s"], wo["control_cpu_s"],
                 wo["control_cpu_s"] - w["control_cpu_s"]))
        if r["full"]["with"]:
            ws = [x["control_cpu_s"] for x in r["full"]["with"]]
            wos = [x["control_cpu_s"] for x in r["full"]["without"]]
            print("| %d | %d | full-path re-run (median of %d) | %.1f s | %.1f s | %.1f s | %.1f s | %.1f s |"
                  % (n, r["forks"], len(ws), bf.median([x["wall_s"] for x in r["full"]["with"]]), bf.median(ws),
                     bf.median([x["wall_s"] for x in r["full"]["without"]]), bf.median(wos),
                     bf.median(wos) - bf.median(ws)))
    for key, value in summary.items():
        print("%s: %s" % (key, value))


if __name__ == "__main__":
    main()
