"""The no-change fast path of site.yml against the full path, in the same run (issue #15).

For each N, on fresh containers and a fresh control-node workspace (CLIENTS=N scripts/sandbox.sh containers):
a cold site.yml (it also writes each host's record), then --repeat rounds of the no-change re-run with the fast
path (one edgefl.nvflare.host_state probe per host, the roles skipped) and without it
(-e nvflare_fast_path=false: every role's own checks, as before the fast path), in alternating order. Every
re-run must report changed=0 on every host, and the fast one must skip the roles on every host. Then one client's
kit key is made world-readable and site.yml runs once more: that host alone takes the full path and is repaired.
The per-added-host seconds are least-squares slopes over N of the median re-run times.
  .venv/bin/python bench/bench_fast_path.py [--sizes 3,10] [--repeat 2]
Writes bench/results/fast-path.json and prints a table; tears the sandbox down at the start and the end.
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_federation as bf  # noqa: E402  (sh, recap_changed, median)
import bench_fleet as fleet  # noqa: E402  (inventory, fresh, slope)

ROOT = bf.ROOT
SKIPPED = re.compile(r"(\d+) of (\d+) hosts are as their last converge left them")


def said(stdout):
    m = re.search(r"\d+ of \d+ hosts are as their last converge", stdout)
    return " ".join(stdout[m.start():].split("TASK [", 1)[0].split()) if m else "(no fast-path line)"


def site_yml(inv, extra, env, stdout=False):
    proc, secs = bf.sh(["ansible-playbook", "-i", inv, "site.yml", *extra], env=env)
    changed = bf.recap_changed(proc.stdout)
    m = SKIPPED.search(proc.stdout)
    skipped = (int(m.group(1)), int(m.group(2))) if m else None
    return (secs, changed, skipped, proc.stdout) if stdout else (secs, changed, skipped)


def measure(n, forks, repeat):
    ws = tempfile.mkdtemp(prefix="edgefl-bench-fast-ws-")
    env = dict(bf.ENV, CLIENTS=str(n), ANSIBLE_FORKS=str(forks))
    extra = ["-e", "nvflare_workspace=" + ws]
    inv = fleet.inventory(n)
    fleet.fresh(n)
    row = {"forks": forks, "cold_site_yml": round(site_yml(inv, extra, env)[0], 1), "fast": [], "full": []}
    for r in range(repeat):
        for what in (["fast", "full"] if r % 2 == 0 else ["full", "fast"]):
            more = [] if what == "fast" else ["-e", "nvflare_fast_path=false"]
            secs, changed, skipped, out = site_yml(inv, extra + more, env, stdout=True)
            if not changed or any(changed.values()):
                raise SystemExit("bench: the %s re-run at N=%d changed something: %s" % (what, n, changed))
            if what == "fast" and skipped != (n + 1, n + 1):
                row.setdefault("fast_not_all_skipped", []).append(skipped)
                print("bench: a fast re-run at N=%d skipped the roles on %s hosts: %s"
                      % (n, skipped, said(out)), flush=True)
            row[what].append(round(secs, 1))
    # drift on one host: only that host takes the full path, and it is repaired
    key = "/var/lib/nvflare/site-1/startup/client.key"
    bf.sh(["podman", "exec", "edgefl-sbx-site-1", "chmod", "0644", key])
    secs, changed, skipped, out = site_yml(inv, extra, env, stdout=True)
    mode = bf.sh(["podman", "exec", "edgefl-sbx-site-1", "stat", "-c", "%a", key])[0].stdout.strip()
    if skipped != (n, n + 1) or not changed.get("site-1") or mode != "600":
        raise SystemExit("bench: the drifted host was not repaired alone: skipped %s, changed %s, mode %s: %s"
                         % (skipped, changed, mode, said(out)))
    row["one_drifted_host"] = round(secs, 1)
    row["fast_median"] = bf.median(row["fast"])
    row["full_median"] = bf.median(row["full"])
    row["full_vs_fast"] = round(row["full_median"] / row["fast_median"], 2)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="3,10", help="comma-separated client counts")
    ap.add_argument("--repeat", type=int, default=2, help="rounds of (fast, full) re-runs per size")
    ap.add_argument("--max-forks", type=int, default=50, help="Ansible forks = min(N + 1, this)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    bf.sh(["scripts/setup.sh"])
    bf.sh(["scripts/build-image.sh"])
    commit = bf.head_commit()
    results = {"machine": {"cpus": os.cpu_count()}, "commit": commit, "date": time.strftime("%Y-%m-%d"),
               "repeat": args.repeat, "sizes": {}}
    for n in sizes:
        row = measure(n, min(n + 1, args.max_forks), args.repeat)
        results["sizes"][str(n)] = row
        print("N=%d: cold %.1f s; no-change re-run fast %.1f s, full %.1f s (x%.2f); one drifted host %.1f s"
              % (n, row["cold_site_yml"], row["fast_median"], row["full_median"], row["full_vs_fast"],
                 row["one_drifted_host"]), flush=True)
    bf.sh(["scripts/sandbox.sh", "down"])
    rows = results["sizes"]
    if len(sizes) > 1:
        results["marginal"] = {
            what + "_s_per_host": round(fleet.slope(sizes, [rows[str(n)][what + "_median"] for n in sizes]), 2)
            for what in ("fast", "full")}
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "fast-path.json"), "w") as f:
        json.dump(results, f, indent=2)
    print("\n| N | forks | cold site.yml | no-change re-run, fast path | full path | full / fast | one drifted host |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in sizes:
        r = rows[str(n)]
        print("| %d | %d | %.1f s | %.1f s (%s) | %.1f s (%s) | %.2f | %.1f s |"
              % (n, r["forks"], r["cold_site_yml"], r["fast_median"], ", ".join(map(str, r["fast"])),
                 r["full_median"], ", ".join(map(str, r["full"])), r["full_vs_fast"], r["one_drifted_host"]))
    if "marginal" in results:
        print("\nSeconds per added host: fast path %(fast_s_per_host)s, full path %(full_s_per_host)s"
              % results["marginal"])


if __name__ == "__main__":
    main()
