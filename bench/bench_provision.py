#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark edgefl.nvflare.provision against `nvflare provision` on the same project.yml.

For N = 3, 100, 500 clients (override with --sizes), in one run:
  first     first provision of a fresh workspace: module / CLI        (target <= 1.1)
  rerun     no-change re-run: module vs the CLI's re-provision         (target <= 10 %),
            checked: no key generated, no kit rewritten, no new prod_NN
  add1      add one client to the N-client workspace (module), compared with the module
            provisioning a 1-client project from scratch              (target <= 3x at N = 500),
            checked: exactly one new key, every earlier kit byte-identical

The module is timed as a task of ansible-playbook (bench/callback_plugins/bench_task_time.py):
from the strategy starting the task to its result arriving back in the controller, which is
what the task adds to a playbook run. edgefl.nvflare.provision runs as an action plugin inside
that task's worker; an ansible.builtin.ping task in the same playbook shows what a task costs
that starts a module process instead. The CLI is timed as the `nvflare` console script. Both
run with HOME pointing at a scratch directory. Prints a table and writes
bench/results/provision.json.
Not a test: it measures and reports, it does not assert the targets.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COLLECTIONS = os.path.join(ROOT, "collections")
sys.path.insert(0, COLLECTIONS)

import yaml  # noqa: E402  (after sys.path setup)

from ansible_collections.edgefl.nvflare.plugins.module_utils._provision_spec import default_builders  # noqa: E402

PROJECT = "bench"
PING_TIMES = []  # ansible.builtin.ping task of every playbook run: the cost of starting a module process
WALL_TIMES = {}  # whole ansible-playbook runs (start-up included) per measurement and N, best of each
PLAYBOOK = """
- name: Benchmark edgefl.nvflare.provision
  hosts: localhost
  gather_facts: false
  tasks:
    - name: provision
      edgefl.nvflare.provision:
        workspace: "{{ ws }}"
        project_file: "{{ project_yml }}"
    - name: ping
      ansible.builtin.ping:
"""


def project_dict(n):
    parts = [{"name": "server1", "type": "server", "org": "nvidia", "fed_learn_port": 8002, "admin_port": 8003,
              "host_names": ["10.89.50.10"]}]
    parts += [{"name": "site-%d" % i, "type": "client", "org": "nvidia"} for i in range(1, n + 1)]
    parts += [{"name": "admin@nvidia.com", "type": "admin", "org": "nvidia", "role": "project_admin"}]
    return {"api_version": 3, "name": PROJECT, "description": "bench", "participants": parts,
            "builders": default_builders()}


def write_project(path, n):
    with open(path, "w") as f:
        yaml.safe_dump(project_dict(n), f)


def nvflare_cli():
    cand = os.path.join(os.path.dirname(sys.executable), "nvflare")
    return cand if os.path.exists(cand) else shutil.which("nvflare")


def timed(cmd, cwd, env):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          check=False)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = proc.stdout[-2000:] + proc.stderr[-2000:]
        raise RuntimeError("%s failed (%d): %s" % (cmd[0], proc.returncode, tail))
    return dt, proc.stdout


def run_cli(scratch, project_yml, ws, env):
    return timed([nvflare_cli(), "provision", "-p", project_yml, "-w", ws, "--force"], scratch, env)[0]


def run_module(scratch, project_yml, ws, env, tag):
    """Run the provision task in ansible-playbook; return (task seconds, result). Records ping and wall times."""
    playbook = os.path.join(scratch, "bench-provision.yml")
    if not os.path.exists(playbook):
        with open(playbook, "w") as f:
            f.write(PLAYBOOK)
    times_file = os.path.join(scratch, "times-%s.json" % tag)
    run_env = dict(env, EDGEFL_BENCH_TASK_TIMES=times_file)
    wall, _out = timed([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), playbook,
                        "-e", json.dumps({"ws": ws, "project_yml": project_yml})], scratch, run_env)
    with open(times_file) as f:
        times = json.load(f)
    result = times["provision"]["result"]
    if result.get("failed"):
        raise RuntimeError("module failed: %s" % result.get("msg"))
    PING_TIMES.append(times["ping"]["seconds"])
    WALL_TIMES.setdefault(tag, []).append(wall)
    return times["provision"]["seconds"], result


def snapshot(path):
    snap = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, "rb") as f:
                    snap[os.path.relpath(full, path)] = (hashlib.sha256(f.read()).hexdigest(), st.st_mtime_ns)
            elif os.path.islink(full):
                snap[os.path.relpath(full, path)] = (os.readlink(full), st.st_mtime_ns)
    return snap


def cert_subjects(ws):
    with open(os.path.join(ws, PROJECT, "state", "cert.json")) as f:
        content = json.load(f)
    return dict((k, v) for k, v in content.items() if isinstance(v, dict))


def best(fn, repeat):
    times = []
    value = None
    for _attempt in range(repeat):
        t, value = fn()
        times.append(t)
    return min(times), value


def bench_size(n, scratch, env, repeat):
    row = {"n_clients": n}
    d = os.path.join(scratch, "n%d" % n)
    os.makedirs(d)
    project_yml = os.path.join(d, "project.yml")
    write_project(project_yml, n)
    k = repeat if n <= 100 else 1

    def first_cli():
        ws = tempfile.mkdtemp(prefix="cli-", dir=d)
        return run_cli(d, project_yml, ws, env), ws

    def first_module():
        ws = tempfile.mkdtemp(prefix="mod-", dir=d)
        shutil.rmtree(ws)
        return run_module(d, project_yml, ws, env, "first-n%d" % n)[0], ws

    row["cli_first_s"], ws_cli = best(first_cli, k)
    row["module_first_s"], ws_mod = best(first_module, k)
    row["first_ratio"] = row["module_first_s"] / row["cli_first_s"]

    row["cli_reprovision_s"] = best(lambda: (run_cli(d, project_yml, ws_cli, env), None), k)[0]
    before = snapshot(ws_mod)
    subjects_before = cert_subjects(ws_mod)
    rerun_results = []

    def rerun():
        t, res = run_module(d, project_yml, ws_mod, env, "rerun-n%d" % n)
        rerun_results.append(res)
        return t, None

    row["module_rerun_s"] = best(rerun, max(k, 3))[0]
    row["rerun_ratio"] = row["module_rerun_s"] / row["cli_reprovision_s"]
    row["rerun_changed"] = any(r["changed"] for r in rerun_results)
    row["rerun_files_untouched"] = snapshot(ws_mod) == before
    row["rerun_keys_generated"] = len(set(cert_subjects(ws_mod)) - set(subjects_before))

    write_project(project_yml, n + 1)
    old_kits = dict((k2, v) for k2, v in before.items() if k2.startswith("kits/") or k2.startswith("prod_"))
    row["module_add1_s"], res = run_module(d, project_yml, ws_mod, env, "add1-n%d" % n)
    after = snapshot(ws_mod)
    row["add1_added"] = res["added"]
    row["add1_existing_untouched"] = all(after.get(p) == v for p, v in old_kits.items())
    new_subjects = set(cert_subjects(ws_mod)) - set(subjects_before)
    row["add1_keys_generated"] = len(new_subjects)
    return row


def one_client_baseline(scratch, env, repeat):
    d = os.path.join(scratch, "n1")
    os.makedirs(d)
    project_yml = os.path.join(d, "project.yml")
    write_project(project_yml, 1)

    def once():
        ws = os.path.join(tempfile.mkdtemp(prefix="mod-", dir=d), "ws")
        return run_module(d, project_yml, ws, env, "one-n1")[0], None

    def once_cli():
        ws = tempfile.mkdtemp(prefix="cli-", dir=d)
        return run_cli(d, project_yml, ws, env), None

    return best(once, repeat)[0], best(once_cli, repeat)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="3,100,500", help="comma-separated client counts")
    parser.add_argument("--repeat", type=int, default=3, help="best-of repeats for runs on N <= 100")
    parser.add_argument("--output", default=os.path.join(HERE, "results", "provision.json"))
    opts = parser.parse_args()
    sizes = [int(s) for s in opts.sizes.split(",")]
    scratch = tempfile.mkdtemp(prefix="bench-provision-")
    env = dict(os.environ, HOME=scratch)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="bench_task_time", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    try:
        import importlib.metadata as md
        one_mod, one_cli = one_client_baseline(scratch, env, opts.repeat)
        rows = []
        for n in sizes:
            print("N=%d ..." % n, file=sys.stderr, flush=True)
            row = bench_size(n, scratch, env, opts.repeat)
            row["add1_vs_1client_ratio"] = row["module_add1_s"] / one_mod
            rows.append(row)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    hdr = ("N", "CLI first", "mod first", "ratio", "CLI re-prov", "mod re-run", "ratio", "untouched",
           "mod add 1", "vs 1-client", "new keys")
    fmt = "%5s %10s %10s %6s %12s %11s %7s %10s %10s %12s %9s"
    print(fmt % hdr)
    for r in rows:
        print(fmt % (r["n_clients"], "%.2fs" % r["cli_first_s"], "%.2fs" % r["module_first_s"],
                     "%.2f" % r["first_ratio"], "%.2fs" % r["cli_reprovision_s"], "%.2fs" % r["module_rerun_s"],
                     "%.1f%%" % (100 * r["rerun_ratio"]),
                     "yes" if (r["rerun_files_untouched"] and not r["rerun_changed"]
                               and r["rerun_keys_generated"] == 0) else "NO",
                     "%.2fs" % r["module_add1_s"], "%.2fx" % r["add1_vs_1client_ratio"],
                     "%d%s" % (r["add1_keys_generated"], "" if r["add1_existing_untouched"] else " (kits changed!)")))
    print("1-client project from scratch: module %.2fs, CLI %.2fs" % (one_mod, one_cli))
    ping = {"best": min(PING_TIMES), "median": sorted(PING_TIMES)[len(PING_TIMES) // 2], "runs": len(PING_TIMES)}
    print("a module task (ansible.builtin.ping) in the same playbooks: %.2fs (best), %.2fs (median)"
          % (ping["best"], ping["median"]))
    print("targets: first ratio <= 1.1; re-run <= 10% of CLI re-provision; add 1 at N=500 <= 3x 1-client")
    data = {
        "nvflare_version": md.version("nvflare"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "repeat_best_of": opts.repeat,
        "one_client_module_s": one_mod,
        "one_client_cli_s": one_cli,
        "module_timing": "task time in ansible-playbook (strategy start of the task to its result), "
                         "edgefl.nvflare.provision running as an action plugin in the task's worker",
        "ping_task_s": ping,
        "playbook_wall_s": dict((tag, min(v)) for tag, v in WALL_TIMES.items()),
        "rows": rows,
        "targets": {"first_ratio_max": 1.1, "rerun_ratio_max": 0.10, "add1_vs_1client_max": 3.0},
    }
    os.makedirs(os.path.dirname(opts.output), exist_ok=True)
    with open(opts.output, "w") as f:
        json.dump(data, f, indent=2)
    print("wrote %s" % opts.output)


if __name__ == "__main__":
    main()
