"""How Molecule reaches its containers: the podman connection plugin against SSH through
tests/molecule/podman_ssh_proxy.py, in the same run, on the same container.

One systemd container of the test image (localhost/edgefl-debian:bookworm, scripts/build-image.sh) is reached
under two inventory names: `podman` (ansible_connection containers.podman.podman, what the scenarios used) and
`ssh` (provisioner.connection_options read from .config/molecule/config.yml: SSH with pipelining, the proxy, the
key of tests/molecule/ssh_key.sh).
A playbook of --tasks module runs (stat, command and copy, a third each) runs against each name, --repeat rounds
in alternating order, with the checkout's ansible.cfg (pipelining on, as in the scenarios' tests). Measured per
run: wall time and the machine's busy CPU seconds (/proc/stat: the controller, podman, conmon, runc and the
container together), so run it on an idle machine.
  .venv/bin/python bench/bench_molecule_connection.py [--tasks 30] [--repeat 3]
Writes bench/results/molecule-connection.json and prints a table; removes its container at the end.
"""

import argparse
import datetime
import json
import os
import string
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_federation as bf  # noqa: E402  (ROOT, ENV, head_commit, median)

ROOT = bf.ROOT
NAME = "edgefl-bench-conn"
IMAGE = "localhost/edgefl-debian:bookworm"
BASE_CONFIG = os.path.join(ROOT, ".config", "molecule", "config.yml")

PLAYBOOK = """\
- name: Module runs over one connection
  hosts: "{{ target }}"
  gather_facts: false
  tasks:
    - name: Stat a file
      ansible.builtin.stat:
        path: /etc/hosts
      loop: "{{ range(n) | list }}"
    - name: Run a command
      ansible.builtin.command: "true"
      changed_when: false
      loop: "{{ range(n) | list }}"
    - name: Copy a small file
      ansible.builtin.copy:
        content: "edgefl {{ item }}\\n"
        dest: /tmp/edgefl-bench-{{ item }}
        mode: "0644"
      loop: "{{ range(n) | list }}"
"""


def ssh_options():
    """provisioner.connection_options of the Molecule base config, with its ${VAR}s filled in as Molecule does."""
    with open(BASE_CONFIG, encoding="utf-8") as f:
        options = yaml.safe_load(f)["provisioner"]["connection_options"]
    env = dict(os.environ, MOLECULE_PROJECT_DIRECTORY=ROOT)
    return {k: string.Template(v).substitute(env) if isinstance(v, str) else v for k, v in options.items()}


def inventory(tmp):
    inv = {"all": {"hosts": {
        "podman": {"ansible_host": NAME, "ansible_connection": "containers.podman.podman"},
        "ssh": dict(ssh_options(), ansible_host=NAME),
    }}}
    path = os.path.join(tmp, "inventory.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(inv, f)
    return path


def start_container():
    subprocess.run(["podman", "rm", "-f", NAME], capture_output=True, check=False)
    subprocess.run(["podman", "run", "-d", "--name", NAME, IMAGE, "/sbin/init"], capture_output=True, check=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        st = subprocess.run(["podman", "exec", NAME, "systemctl", "is-system-running"], capture_output=True,
                            text=True, check=False).stdout.strip()
        if st in ("running", "degraded"):
            return
        time.sleep(1)
    raise SystemExit("bench: %s did not boot within 120 s" % NAME)


def run(inv, pb, target, n):
    b0, t0 = bf.busy_cpu(), time.time()
    proc = subprocess.run(["ansible-playbook", "-i", inv, pb, "-e", json.dumps({"target": target, "n": n})],
                          env=bf.ENV, capture_output=True, text=True, check=False)
    wall, busy = time.time() - t0, bf.busy_cpu() - b0
    if proc.returncode != 0:
        raise SystemExit("bench: the %s run failed:\n%s" % (target, proc.stdout[-3000:] + proc.stderr[-2000:]))
    return round(wall, 2), round(busy, 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--tasks", type=int, default=30, help="module runs per playbook (a third of each kind)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = max(1, args.tasks // 3)
    subprocess.run([os.path.join(ROOT, "tests", "molecule", "ssh_key.sh")], check=True)
    tmp = tempfile.mkdtemp(prefix="edgefl-bench-conn-")
    inv = inventory(tmp)
    pb = os.path.join(tmp, "playbook.yml")
    with open(pb, "w", encoding="utf-8") as f:
        f.write(PLAYBOOK)
    start_container()
    runs = {"podman": [], "ssh": []}
    try:
        run(inv, pb, "ssh", 1)  # the key in place, one warm-up of each
        run(inv, pb, "podman", 1)
        for r in range(args.repeat):
            for target in (["podman", "ssh"] if r % 2 == 0 else ["ssh", "podman"]):
                runs[target].append(run(inv, pb, target, n))
                print("round %d %-6s wall %6.2f s  busy CPU %6.2f s" % (r + 1, target, *runs[target][-1]),
                      flush=True)
    finally:
        subprocess.run(["podman", "rm", "-f", NAME], capture_output=True, check=False)
    tasks = 3 * n
    rows = {}
    for target, values in runs.items():
        wall = bf.median([w for w, _b in values])
        busy = bf.median([b for _w, b in values])
        rows[target] = {"runs": values, "wall_s": wall, "busy_cpu_s": busy,
                        "wall_per_task_s": round(wall / tasks, 3), "busy_cpu_per_task_s": round(busy / tasks, 3)}
    ratio = {"wall": round(rows["ssh"]["wall_s"] / rows["podman"]["wall_s"], 2),
             "busy_cpu": round(rows["ssh"]["busy_cpu_s"] / rows["podman"]["busy_cpu_s"], 2)}
    print("\n%d module runs per playbook, median of %d runs" % (tasks, args.repeat))
    print("| connection | wall s | busy CPU s | wall s/task | busy CPU s/task |")
    print("|---|---|---|---|---|")
    for target in ("podman", "ssh"):
        r = rows[target]
        cells = (target, r["wall_s"], r["busy_cpu_s"], r["wall_per_task_s"], r["busy_cpu_per_task_s"])
        print("| %s | %.2f | %.2f | %.3f | %.3f |" % cells)
    print("| ssh / podman | %.2f | %.2f | | |" % (ratio["wall"], ratio["busy_cpu"]))
    out = {"date": datetime.date.today().isoformat(), "commit": bf.head_commit(mark_dirty=True),
           "cores": os.cpu_count(), "tasks_per_run": tasks, "repeat": args.repeat, "connections": rows,
           "ratio_ssh_to_podman": ratio}
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "molecule-connection.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
