"""Federation benchmark on this machine: the sandbox (1 server + 3 client containers).

Measures, each on fresh containers and a fresh control-node workspace:
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


def recap_changed(out):
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)", out, re.M)}


def fresh(spare=False):
    sh(["scripts/sandbox.sh", "down"])
    env = dict(ENV, SANDBOX_SPARE="1" if spare else "0")
    sh(["scripts/sandbox.sh", "containers"], env=env)


def main():
    results = {"machine": {"cpus": os.cpu_count()}, "figures": {}}
    fig = results["figures"]
    sh(["scripts/build-image.sh"])
    ws = tempfile.mkdtemp(prefix="edgefl-bench-ws-")
    extra = ["-e", "nvflare_workspace=" + ws]

    fresh(spare=True)
    proc, fig["cold_site_yml"] = sh(["ansible-playbook", "-i", INV, "site.yml", *extra])
    proc, fig["rerun_site_yml"] = sh(["ansible-playbook", "-i", INV, "site.yml", *extra])
    changed = recap_changed(proc.stdout)
    results["rerun_changed"] = changed
    add_inv = os.path.join(ws, "add.yml")
    with open(add_inv, "w") as f:
        f.write("nvflare_clients:\n  hosts:\n    site-4:\n      ansible_host: 10.89.50.14\n"
                "      nvflare_hosts_address: 10.89.50.14\n")
    add_proc, fig["add_client"] = sh(["ansible-playbook", "-i", INV, "-i", add_inv, "playbooks/add_client.yml",
                                      "-e", "nvflare_add_clients=site-4", *extra])
    proc, fig["job_wall_time"] = sh(["ansible-playbook", "-i", INV, "-i", add_inv, "playbooks/submit_job.yml", *extra])
    results["job_status"] = "FINISHED:COMPLETED" if "FINISHED:COMPLETED" in proc.stdout else "unknown"

    fresh()
    # The wheelhouse site.yml built above (nvflare_venv role cache layout:
    # <cache>/<arch>-py<X.Y>/nvflare-<version>-<hash>/*.whl); the containers run Debian
    # bookworm's Python 3.11.
    pattern = os.path.expanduser("~/.cache/edgefl-nvflare/wheelhouse/%s-py3*11/nvflare-2.9.0-*/nvflare-2.9.0-*.whl"
                                 % platform.machine())
    wheels = sorted({os.path.dirname(w) for w in glob.glob(pattern)})
    if not wheels:
        raise SystemExit("bench: no control-node wheelhouse matching %s (site.yml builds it)" % pattern)
    guide_proc, fig["baseline_manual_guide"] = sh(["bench/manual_guide.sh", tempfile.mkdtemp(prefix="edgefl-bench-guide-"), wheels[0]])
    sh(["scripts/sandbox.sh", "down"])

    fig = {k: round(v, 1) for k, v in fig.items()}
    results["figures"] = fig
    ratio = fig["cold_site_yml"] / fig["baseline_manual_guide"]
    results["cold_vs_baseline"] = round(ratio, 2)
    checks = {k: fig[k] <= v for k, v in TARGETS.items()}
    checks["rerun_changed_0"] = bool(changed) and all(v == 0 for v in changed.values())
    checks["cold_le_2x_baseline"] = ratio <= 2.0
    results["checks"] = checks
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "federation.json"), "w") as f:
        json.dump(results, f, indent=2)

    print("%-26s %9s  %s" % ("measure", "seconds", "target"))
    rows = [("cold site.yml", "cold_site_yml", "<= 180 s"), ("no-change re-run", "rerun_site_yml", "<= 40 s, changed=0"),
            ("add_client", "add_client", "<= 60 s"), ("job wall time", "job_wall_time", results["job_status"]),
            ("baseline (manual script)", "baseline_manual_guide", "cold <= 2x")]
    for label, key, target in rows:
        print("%-26s %9.1f  %s" % (label, fig[key], target))
    print("cold / baseline = %.2f; re-run changed: %s" % (ratio, changed))
    print("checks:", checks)
    del add_proc, guide_proc
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
