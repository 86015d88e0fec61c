"""Fleet benchmark on this machine: the sandbox at N = 3, 10, 25, 50 clients (issue #15).

For each N, on fresh containers and a fresh control-node workspace (CLIENTS=N scripts/sandbox.sh):
  cold site.yml        fresh containers -> every client registered
  no-change re-run     site.yml again; must report changed=0 on every host
  job                  the NumPy FedAvg example with all N clients (playbooks/submit_job.yml)
  add one client       site-(N+1) joins through playbooks/add_client.yml
  RSS per node         container memory (podman stats) of the server and the median client, federation running
  baseline             bench/manual_guide.sh with CLIENTS=N on fresh containers, as many hosts at a time
                       as Ansible's forks
The order of Ansible and the baseline alternates from one N to the next. Per-added-host marginal seconds are
the least-squares slopes of cold and re-run time over N. Ansible runs with forks = min(2 (N + 1), --max-forks), the
baseline with as many hosts at a time (so every host at once).
Targets (issue #15): re-run <= 1.5 s per added host and <= 100 s at N = 50; cold <= 6 s per added host and
<= 1.5x the baseline at every N; add one client at N = 50 <= 60 s; the job completes with 50 clients.
Writes bench/results/fleet.json (or --out) and prints a table; tears the sandbox down at the start and the end.
  .venv/bin/python bench/bench_fleet.py [--sizes 3,10,25,50] [--mitogen 0.3.54] [--merge] [--out FILE]
  (or scripts/bench.sh fleet)
--mitogen also times the no-change re-run under mitogen_linear (installed into .work/, opt-in).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_federation as bf  # noqa: E402  (sh, recap_changed, newest_wheelhouse, median)

ROOT = bf.ROOT
FLEET_INV = os.path.join(ROOT, ".work", "sandbox-fleet")
SANDBOX_INV = os.path.join(ROOT, "inventories", "sandbox")


def inventory(n):
    return FLEET_INV if n != 3 else SANDBOX_INV


def fresh(n, spare=False):
    bf.sh(["scripts/sandbox.sh", "down"])
    bf.sh(["scripts/sandbox.sh", "containers"], env=dict(bf.ENV, CLIENTS=str(n), SANDBOX_SPARE="1" if spare else "0"))


def mib(text):
    """podman stats' MemUsage ("123.4MB / 24.5GB") -> MiB of the first figure."""
    m = re.match(r"\s*([\d.]+)\s*([kKMGT]i?B|B)", text)
    if not m:
        return None
    scale = {"B": 1 / 2**20, "kB": 1e3 / 2**20, "KiB": 1 / 1024, "MB": 1e6 / 2**20, "MiB": 1, "GB": 1e9 / 2**20,
             "GiB": 1024, "TB": 1e12 / 2**20, "TiB": 2**20}
    return float(m.group(1)) * scale.get(m.group(2), 1)


def rss_per_node():
    out = bf.sh(["podman", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}"])[0].stdout
    mem = {}
    for line in out.splitlines():
        name, usage = (line.split("\t", 1) + [""])[:2]
        if name.startswith("edgefl-sbx-") and mib(usage) is not None:
            mem[name[len("edgefl-sbx-"):]] = mib(usage)
    clients = [v for k, v in mem.items() if k.startswith("site-")]
    return {"server_mib": round(mem.get("server1", 0), 1),
            "client_median_mib": round(bf.median(clients), 1) if clients else None}


def run_ansible(n, forks):
    ws = tempfile.mkdtemp(prefix="edgefl-bench-fleet-ws-")
    env = dict(bf.ENV, CLIENTS=str(n), ANSIBLE_FORKS=str(forks))
    extra = ["-e", "nvflare_workspace=" + ws]
    inv = inventory(n)
    fig = {}
    fresh(n, spare=True)
    fig["cold_site_yml"] = bf.sh(["ansible-playbook", "-i", inv, "site.yml", *extra], env=env)[1]
    proc, fig["rerun_site_yml"] = bf.sh(["ansible-playbook", "-i", inv, "site.yml", *extra], env=env)
    changed = bf.recap_changed(proc.stdout)
    if MITOGEN:
        fig.update(run_mitogen(inv, extra, env))
    proc, fig["job_wall_time"] = bf.sh(["ansible-playbook", "-i", inv, "playbooks/submit_job.yml", *extra], env=env)
    status = "FINISHED:COMPLETED" if "FINISHED:COMPLETED" in proc.stdout else "unknown"
    fig.update(rss_per_node())
    spare, ip = "site-%d" % (n + 1), "10.89.50.%d" % (11 + n)
    add_inv = os.path.join(ws, "add.yml")
    with open(add_inv, "w") as f:
        f.write("nvflare_clients:\n  hosts:\n    %s:\n      ansible_host: %s\n      nvflare_address: %s\n"
                % (spare, ip, ip))
    proc, fig["add_client"] = bf.sh(["ansible-playbook", "-i", inv, "-i", add_inv, "playbooks/add_client.yml",
                                     "-e", "nvflare_add_clients=" + spare, *extra], env=env)
    # the spare must be a new device: a sandbox inventory that already listed it (scripts/sandbox.sh before the fix
    # of SANDBOX_SPARE with CLIENTS != 3) made this a no-change run of a deployed client
    if not bf.recap_changed(proc.stdout).get(spare):
        raise SystemExit("bench_fleet: add_client.yml changed nothing on %s at N = %d: the spare was deployed "
                         "already, so this is no add-one-client figure" % (spare, n))
    return fig, changed, status


MITOGEN = None  # the directory mitogen is installed in (--mitogen)


def install_mitogen(version):
    """pip-install mitogen into .work/mitogen (opt-in; not a dependency of the collection)."""
    target = os.path.join(ROOT, ".work", "mitogen-" + version)
    if not os.path.isdir(os.path.join(target, "ansible_mitogen")):
        bf.sh([sys.executable, "-m", "pip", "install", "-q", "--target", target, "mitogen==" + version])
    return target


def run_mitogen(inv, extra, env):
    """The same no-change site.yml under mitogen's linear strategy; a failure is recorded, not fatal."""
    menv = dict(env, PYTHONPATH=MITOGEN, ANSIBLE_STRATEGY="mitogen_linear",
                ANSIBLE_STRATEGY_PLUGINS=os.path.join(MITOGEN, "ansible_mitogen", "plugins", "strategy"))
    try:
        proc, secs = bf.sh(["ansible-playbook", "-i", inv, "site.yml", *extra], env=menv)
    except SystemExit as exc:
        return {"rerun_site_yml_mitogen": None, "mitogen_error": str(exc)}
    return {"rerun_site_yml_mitogen": secs, "rerun_changed_mitogen": bf.recap_changed(proc.stdout)}


def run_baseline(n, forks):
    fresh(n)
    work = tempfile.mkdtemp(prefix="edgefl-bench-fleet-guide-")
    return bf.sh(["bench/manual_guide.sh", work, bf.newest_wheelhouse()],
                 env=dict(bf.ENV, CLIENTS=str(n), FORKS=str(forks)))[1]


OUT = os.path.join(ROOT, "bench", "results", "fleet.json")


def _write(results):
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(results, f, indent=2)


# How many complete runs before this one fleet.json keeps, each under the "previous" of the run after it.
KEEP_PREVIOUS = 2


def carry_previous(old, keep=KEEP_PREVIOUS):
    """The "previous" chain of a new fleet.json from the file it replaces (``old``, None when there is none).

    A complete run becomes the new run's previous; a run stopped half-way (``complete`` false) is dropped and its
    own previous carried on instead, so a partial run never pushes the last complete one out. The chain keeps
    ``keep`` runs at most.
    """
    if not isinstance(old, dict):
        return None
    if not old.get("complete"):
        old = old.get("previous")
        if not isinstance(old, dict):
            return None
    if keep <= 0:
        return None
    run = {k: v for k, v in old.items() if k != "previous"}
    before = carry_previous(old.get("previous"), keep - 1) if keep > 1 else None
    if before is not None:
        run["previous"] = before
    return run


def slope(xs, ys):
    """Least-squares slope of ys over xs (seconds per added host)."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else None


def main():
    global MITOGEN, OUT  # pylint: disable=global-statement
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="3,10,25,50", help="comma-separated client counts")
    ap.add_argument("--max-forks", type=int, default=100, help="Ansible forks = min(2 (N + 1), this)")
    ap.add_argument("--mitogen", metavar="VERSION", help="also time the no-change re-run under mitogen_linear")
    ap.add_argument("--merge", action="store_true",
                    help="keep the sizes of the output file that this run does not measure (each row names its commit "
                         "and date: the figures then come from more than one run; the slopes use this run's only)")
    ap.add_argument("--out", default=OUT, help="the JSON file to write (default bench/results/fleet.json)")
    args = ap.parse_args()
    OUT = os.path.abspath(args.out)
    if args.mitogen:
        MITOGEN = install_mitogen(args.mitogen)
    sizes = [int(x) for x in args.sizes.split(",")]
    bf.sh(["scripts/setup.sh"])
    bf.sh(["scripts/build-image.sh"])
    commit = bf.head_commit()
    results = {"machine": {"cpus": os.cpu_count()}, "commit": commit, "date": time.strftime("%Y-%m-%d"), "sizes": {},
               "mitogen": args.mitogen}
    old = None
    if os.path.exists(OUT):
        with open(OUT) as f:
            old = json.load(f)
    if args.merge and old:
        results["sizes"] = {k: v for k, v in old.get("sizes", {}).items() if int(k) not in sizes}
        results["merged"] = True
    # the last complete runs stay in the file, under "previous" (bench/README.md compares with them)
    previous = carry_previous(old)
    if previous is not None:
        results["previous"] = previous
    for i, n in enumerate(sizes):
        forks = min(2 * (n + 1), args.max_forks)
        # the first size runs Ansible first: it builds the control-node wheelhouse the baseline installs from
        order = ["ansible", "baseline"] if i % 2 == 0 else ["baseline", "ansible"]
        row = {"order": order, "forks": forks, "commit": commit, "date": time.strftime("%Y-%m-%d")}
        for what in order:
            if what == "ansible":
                fig, row["rerun_changed"], row["job_status"] = run_ansible(n, forks)
                row.update({k: (round(v, 1) if isinstance(v, float) else v) for k, v in fig.items()})
            else:
                row["baseline_manual_guide"] = round(run_baseline(n, forks), 1)
        row["cold_vs_baseline"] = round(row["cold_site_yml"] / row["baseline_manual_guide"], 2)
        results["sizes"][str(n)] = row
        _write(dict(results, complete=False))  # a run stopped half-way still leaves the sizes it measured
        print("N=%d (%s first, forks %d): cold %.1f s, baseline %.1f s (ratio %.2f), re-run %.1f s, job %.1f s %s, "
              "add one %.1f s, RSS server %s MiB / client %s MiB"
              % (n, order[0], forks, row["cold_site_yml"], row["baseline_manual_guide"], row["cold_vs_baseline"],
                 row["rerun_site_yml"], row["job_wall_time"], row["job_status"], row["add_client"],
                 row["server_mib"], row["client_median_mib"]), flush=True)
    bf.sh(["scripts/sandbox.sh", "down"])

    rows = results["sizes"] = dict(sorted(results["sizes"].items(), key=lambda kv: int(kv[0])))
    # the slopes over the sizes of this run only: rows kept by --merge come from another commit and machine state
    ns = sorted(sizes)
    results["marginal_over"] = ns
    marg = {
        "cold_s_per_host": slope(ns, [rows[str(n)]["cold_site_yml"] for n in ns]) if len(ns) > 1 else None,
        "rerun_s_per_host": slope(ns, [rows[str(n)]["rerun_site_yml"] for n in ns]) if len(ns) > 1 else None,
        "baseline_s_per_host": slope(ns, [rows[str(n)]["baseline_manual_guide"] for n in ns]) if len(ns) > 1 else None,
    }
    mito = [rows[str(n)].get("rerun_site_yml_mitogen") for n in ns]
    if len(ns) > 1 and all(v is not None for v in mito):
        marg["rerun_mitogen_s_per_host"] = slope(ns, mito)
    results["marginal"] = {k: (round(v, 2) if v is not None else None) for k, v in marg.items()}
    big = str(max(int(k) for k in rows))
    checks = {
        "rerun_changed_0": all(r["rerun_changed"] and all(v == 0 for v in r["rerun_changed"].values())
                               for r in rows.values()),
        "rerun_le_1.5s_per_host": marg["rerun_s_per_host"] is not None and marg["rerun_s_per_host"] <= 1.5,
        "cold_le_6s_per_host": marg["cold_s_per_host"] is not None and marg["cold_s_per_host"] <= 6,
        "cold_le_1.5x_baseline_every_n": all(r["cold_vs_baseline"] <= 1.5 for r in rows.values()),
        "jobs_completed": all(r["job_status"] == "FINISHED:COMPLETED" for r in rows.values()),
    }
    if big == "50":
        checks["rerun_le_100s_at_50"] = rows[big]["rerun_site_yml"] <= 100
        checks["add_client_le_60s_at_50"] = rows[big]["add_client"] <= 60
    results["checks"] = checks
    _write(dict(results, complete=True))

    cols = ["cold_site_yml", "baseline_manual_guide", "cold_vs_baseline", "rerun_site_yml", "job_wall_time",
            "add_client", "server_mib", "client_median_mib"] + (["rerun_site_yml_mitogen"] if MITOGEN else [])
    print("\n%-6s %-6s " % ("N", "forks") + " ".join("%12s" % c[:12] for c in cols))
    for n in (int(k) for k in rows):
        r = rows[str(n)]
        print("%-6d %-6d " % (n, r["forks"]) + " ".join("%12s" % r.get(c) for c in cols))
    marginal = results["marginal"]
    print("marginal seconds per added host: cold %s (manual guide %s), re-run %s, re-run under mitogen %s"
          % (marginal["cold_s_per_host"], marginal["baseline_s_per_host"], marginal["rerun_s_per_host"],
             marginal.get("rerun_mitogen_s_per_host")))
    print("checks:", checks)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        sys.exit("bench: %s" % exc)
