"""Federation benchmark on this machine: the sandbox (1 server + 3 client containers).

Measures, each on fresh containers and a fresh control-node workspace, in --rounds rounds (default 3)
that alternate which of Ansible and the baseline goes first; the figures are the medians, the
cold/baseline ratio the median of the rounds' ratios (this machine is noisy, so each ratio compares
two runs made minutes apart):
  cold site.yml           fresh containers -> every client registered (ansible-playbook site.yml)
  no-change re-run        site.yml again; must report changed=0 on every host
  add_client              a 4th container joins through playbooks/add_client.yml
  job wall time           the NumPy FedAvg example through playbooks/submit_job.yml (edgefl.nvflare.job)
  baseline                bench/manual_guide.sh: the manual guide as a plain script (no Ansible)
Targets (issue 4): cold <= 180 s, re-run <= 40 s with changed=0, add_client <= 60 s,
cold <= 2x baseline. The control-node wheelhouse cache (~/.cache/edgefl-nvflare/wheelhouse) is
shared by both, as it would be for anyone deploying a second federation.
Writes bench/results/federation.json and prints a table. Tears the sandbox down at the end
(and at the start: it uses the sandbox container names).
  .venv/bin/python bench/bench_federation.py   (or scripts/bench.sh federation)
"""

import argparse
import glob
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
INV = os.path.join(ROOT, "inventories", "sandbox")
ENV = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
           PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""))
TARGETS = {"cold_site_yml": 180, "rerun_site_yml": 40, "add_client": 60}


def sh(cmd, **kw):
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=kw.pop("env", ENV), capture_output=True, text=True, check=False, **kw)
    dt = time.time() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-5000:] + proc.stderr[-3000:])
        raise SystemExit("bench: %s failed (rc=%d)" % (" ".join(cmd[:3]), proc.returncode))
    return proc, dt


def head_commit(mark_dirty=False):
    """The short commit of ROOT's HEAD; with mark_dirty, "+dirty" when tracked files differ from it."""
    git = ["git", "-C", ROOT]
    commit = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    if not mark_dirty:
        return commit
    dirty = subprocess.run(git + ["status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                           check=False).stdout.strip()
    return commit + ("+dirty" if dirty else "")


def recap_changed(out):
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)", out, re.M)}


def fresh(spare=False):
    sh(["scripts/sandbox.sh", "down"])
    env = dict(ENV, SANDBOX_SPARE="1" if spare else "0")
    sh(["scripts/sandbox.sh", "containers"], env=env)


def newest_wheelhouse():
    """The wheelhouse site.yml built (nvflare_venv role cache layout:
    <cache>/<arch>-py<X.Y>/nvflare-<version>-<hash>/*.whl); the containers run Debian bookworm's Python 3.11."""
    pattern = os.path.expanduser("~/.cache/edgefl-nvflare/wheelhouse/%s-py3*11/nvflare-2.9.0-*/nvflare-2.9.0-*.whl"
                                 % platform.machine())
    wheels = sorted({os.path.dirname(w) for w in glob.glob(pattern)}, key=os.path.getmtime)
    if not wheels:
        raise SystemExit("bench: no control-node wheelhouse matching %s (site.yml builds it)" % pattern)
    return wheels[-1]


def run_ansible(ws):
    """Cold site.yml on fresh containers, then the re-run, add_client and the job on that federation."""
    extra = ["-e", "nvflare_workspace=" + ws]
    fig = {}
    fresh(spare=True)
    proc, fig["cold_site_yml"] = sh(["ansible-playbook", "-i", INV, "site.yml", *extra])
    proc, fig["rerun_site_yml"] = sh(["ansible-playbook", "-i", INV, "site.yml", *extra])
    changed = recap_changed(proc.stdout)
    add_inv = os.path.join(ws, "add.yml")
    with open(add_inv, "w") as f:
        f.write("nvflare_clients:\n  hosts:\n    site-4:\n      ansible_host: 10.89.50.14\n"
                "      nvflare_address: 10.89.50.14\n")
    fig["add_client"] = sh(["ansible-playbook", "-i", INV, "-i", add_inv, "playbooks/add_client.yml",
                           "-e", "nvflare_add_clients=site-4", *extra])[1]
    proc, fig["job_wall_time"] = sh(["ansible-playbook", "-i", INV, "-i", add_inv, "playbooks/submit_job.yml", *extra])
    status = "FINISHED:COMPLETED" if "FINISHED:COMPLETED" in proc.stdout else "unknown"
    return fig, changed, status


def run_baseline():
    fresh()
    return sh(["bench/manual_guide.sh", tempfile.mkdtemp(prefix="edgefl-bench-guide-"), newest_wheelhouse()])[1]


def busy_cpu():
    """Busy CPU seconds of the whole machine so far (user + nice + system + irq + softirq)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / os.sysconf("SC_CLK_TCK")


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of (Ansible, baseline), alternating which goes first; figures are medians")
    args = ap.parse_args()
    results = {"machine": {"cpus": os.cpu_count()}, "rounds": []}
    sh(["scripts/build-image.sh"])
    for r in range(args.rounds):
        # Round 0 runs Ansible first: it builds the control-node wheelhouse the baseline installs from.
        order = ["ansible", "baseline"] if r % 2 == 0 else ["baseline", "ansible"]
        rnd = {"order": order}
        for what in order:
            if what == "ansible":
                fig, rnd["rerun_changed"], rnd["job_status"] = run_ansible(tempfile.mkdtemp(prefix="edgefl-bench-ws-"))
                rnd.update({k: round(v, 1) for k, v in fig.items()})
            else:
                rnd["baseline_manual_guide"] = round(run_baseline(), 1)
        rnd["cold_vs_baseline"] = round(rnd["cold_site_yml"] / rnd["baseline_manual_guide"], 2)
        results["rounds"].append(rnd)
        print("round %d (%s first): cold %.1f s, baseline %.1f s, ratio %.2f, re-run %.1f s, add_client %.1f s, job %.1f s"
              % (r + 1, order[0], rnd["cold_site_yml"], rnd["baseline_manual_guide"], rnd["cold_vs_baseline"],
                 rnd["rerun_site_yml"], rnd["add_client"], rnd["job_wall_time"]), flush=True)
    sh(["scripts/sandbox.sh", "down"])

    rounds = results["rounds"]
    keys = ["cold_site_yml", "rerun_site_yml", "add_client", "job_wall_time", "baseline_manual_guide"]
    fig = {k: round(median([x[k] for x in rounds]), 1) for k in keys}
    results["figures"] = fig
    # The ratio of each round (both measured minutes apart on the same machine), then the median.
    ratio = median([x["cold_vs_baseline"] for x in rounds])
    results["cold_vs_baseline"] = round(ratio, 2)
    changed = {}
    for x in rounds:
        for host, n in x["rerun_changed"].items():
            changed[host] = max(changed.get(host, 0), n)
    results["rerun_changed"] = changed
    results["job_status"] = "FINISHED:COMPLETED" if all(x["job_status"] == "FINISHED:COMPLETED" for x in rounds) else "unknown"
    checks = {k: fig[k] <= v for k, v in TARGETS.items()}
    checks["rerun_changed_0"] = bool(changed) and all(v == 0 for v in changed.values())
    checks["cold_le_2x_baseline"] = ratio <= 2.0
    results["checks"] = checks
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "federation.json"), "w") as f:
        json.dump(results, f, indent=2)

    print("\nmedian of %d rounds" % len(rounds))
    print("%-26s %9s  %s" % ("measure", "seconds", "target"))
    rows = [("cold site.yml", "cold_site_yml", "<= 180 s"), ("no-change re-run", "rerun_site_yml", "<= 40 s, changed=0"),
            ("add_client", "add_client", "<= 60 s"), ("job wall time", "job_wall_time", results["job_status"]),
            ("baseline (manual script)", "baseline_manual_guide", "cold <= 2x")]
    for label, key, target in rows:
        print("%-26s %9.1f  %s" % (label, fig[key], target))
    print("cold / baseline = %.2f (median of the rounds' ratios: %s); re-run changed (max): %s"
          % (ratio, ", ".join("%.2f" % x["cold_vs_baseline"] for x in rounds), changed))
    print("checks:", checks)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
