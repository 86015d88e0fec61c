# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The jobs a restart of the NVFLARE server would cut short, read on the server host without NVFLARE.

usage: job_store.py <server workspace> <unit name or main PID>

Prints one line per job, "running <job id>" or "finishing <job id>", and nothing when the server may restart:
- running: a job process of the server (nvflare.private.fed.app.server.runner_process -n <job id>), any version;
- finishing: a job that the server's job store still lists as DISPATCHED or RUNNING although its process has
  ended. NVFLARE publishes a job's final status only after the clients' outcomes arrived and the workspace was
  archived (2.9 waits up to 900 s); a restart in that window leaves the job RUNNING for ever. A store entry
  started (or, without a start time, submitted) before the server process started is a leftover of an earlier
  restart and does not count, and a server that does not run finalizes nothing.

The job store is the job_manager's uri_root in <workspace>/local/resources.json (NVFLARE's default
/tmp/nvflare/jobs-storage); each job is a directory with a "meta" file, JSON (older versions: a JSON string of
a Python literal). Runs on Python 3.6 (JetPack 4.6) and later.
"""
from __future__ import print_function

import ast
import calendar
import json
import os
import re
import subprocess
import sys
import time

ACTIVE = ("DISPATCHED", "RUNNING")
RUNNER = "nvflare.private.fed.app.server.runner_process"
DEFAULT_STORE = "/tmp/nvflare/jobs-storage"


def store_root(workspace):
    for name in ("resources.json", "resources.json.default"):
        path = os.path.join(workspace, "local", name)
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            resources = json.load(f)
        for comp in resources.get("components") or []:
            if isinstance(comp, dict) and comp.get("id") == "job_manager":
                return (comp.get("args") or {}).get("uri_root") or DEFAULT_STORE
        return DEFAULT_STORE
    return DEFAULT_STORE


def decode_meta(data):
    """A job's meta as FilesystemStorage writes it, or None."""
    try:
        value = json.loads(data.decode("utf-8"))
        if isinstance(value, str):
            value = ast.literal_eval(value)
    except (ValueError, SyntaxError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def start_epoch(value):
    """A job's start_time in seconds since the epoch, or None: NVFLARE 2.9 writes ISO 8601 with an offset, older
    versions str(datetime.now()), local time without a zone."""
    match = re.match(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|([+-])(\d\d):?(\d\d))?$",
                     str(value or "").strip())
    if not match:
        return None
    when = time.strptime(match.group(1) + " " + match.group(2), "%Y-%m-%d %H:%M:%S")
    frac = float("0." + match.group(3)) if match.group(3) else 0.0
    if not match.group(4):
        return time.mktime(when) + frac
    offset = 0 if match.group(4) == "Z" else int(match.group(6)) * 3600 + int(match.group(7)) * 60
    return calendar.timegm(when) - (offset if match.group(5) == "+" else -offset) + frac


def main_pid(unit):
    if unit.isdigit():
        return int(unit)
    out = subprocess.check_output(["systemctl", "show", "-p", "MainPID", "--value", unit])
    return int(out.decode().strip() or 0)


def process_start(pid):
    """The start of process pid in seconds since the epoch, or None when it does not run. Up to 1 s early (the
    boot time is whole seconds): a job submitted in that second counts, which is the safe side."""
    if pid <= 0:
        return None
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/stat") as f:
            btime = [int(line.split()[1]) for line in f if line.startswith("btime ")][0]
    except (OSError, IndexError, ValueError):
        return None
    return btime + int(fields[19]) / float(os.sysconf("SC_CLK_TCK"))


def running_jobs(proc="/proc"):
    """Job ids of the server's job processes on this host."""
    found = []
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            with open(os.path.join(proc, pid, "cmdline"), "rb") as f:
                argv = f.read().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if RUNNER in argv:
            match = re.search(r"(?:^|\s)-n\s+(\S+)", " ".join(argv))
            found.append(match.group(1) if match else "?")
    return sorted(set(found))


def finishing_jobs(root, started, running):
    if started is None or not os.path.isdir(root):
        return []
    found = []
    for name in sorted(os.listdir(root)):
        try:
            with open(os.path.join(root, name, "meta"), "rb") as f:
                meta = decode_meta(f.read())
        except OSError:
            continue
        if not meta or str(meta.get("status")) not in ACTIVE:
            continue
        job_id = str(meta.get("job_id") or name)
        try:
            submitted = float(meta.get("submit_time"))
        except (TypeError, ValueError):
            submitted = None
        # when it last began: its start (a job queued across a restart starts after it), else its submission
        began = start_epoch(meta.get("start_time")) or submitted
        if job_id in running or (began is not None and began < started):
            continue
        found.append(job_id)
    return found


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    workspace, unit = argv[1], argv[2]
    running = running_jobs()
    started = process_start(main_pid(unit))
    for job_id in running:
        print("running", job_id)
    for job_id in finishing_jobs(store_root(workspace), started, running):
        print("finishing", job_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
