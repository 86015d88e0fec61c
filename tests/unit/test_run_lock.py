# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils._run_lock: one run at a time, held for the owner's life, let go when it dies (real processes)."""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.workspace_removal import workspace_removal
from ansible_collections.edgefl.nvflare.plugins.module_utils import _run_lock as rl

# the collections/ folder of this checkout (collections/ansible_collections/edgefl/nvflare links to it)
COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "collections")


@pytest.fixture
def owners():
    """Start stand-ins for ansible-playbook processes (sleeping Pythons); all are killed at the end."""
    procs = []

    def start():
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _free_within(path, seconds):
    """True when nobody holds the lock at path within seconds (taken and given back at once)."""
    import fcntl

    deadline = time.monotonic() + seconds
    fd = os.open(path, os.O_RDWR)
    try:
        while time.monotonic() < deadline:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                return True
            except OSError:
                time.sleep(0.1)
        return False
    finally:
        os.close(fd)


def test_taken_held_for_the_owner_and_refused_to_another_run(tmp_path, owners):
    path = str(tmp_path / "ws" / ".edgefl-run-p.lock")
    first, second = owners(), owners()
    got = rl.acquire(path, first.pid, timeout=0)
    assert got["acquired"] and not got["held_by_this_run"]
    assert got["holder"]["pid"] == first.pid and got["holder"]["start"] == rl.start_time(first.pid)
    # the directory is made private, the file is 0600 and names the holder
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        assert json.load(f)["pid"] == first.pid
    # the task has returned, yet the lock is still held (by the watcher, for the owner)
    assert not _free_within(path, 1)
    with pytest.raises(rl.RunLockError) as err:
        rl.acquire(path, second.pid, timeout=0)
    msg = str(err.value)
    assert "another run is changing this federation" in msg and "pid %d" % first.pid in msg
    assert "nvflare_run_lock_timeout" in msg and path in msg


def test_a_later_task_of_the_same_run_goes_on_at_once(tmp_path, owners):
    path = str(tmp_path / "run.lock")
    owner = owners()
    assert rl.acquire(path, owner.pid, timeout=0)["acquired"]
    again = rl.acquire(path, owner.pid, timeout=0)
    assert again["held_by_this_run"] and not again["acquired"]
    assert again["holder"]["pid"] == owner.pid


def test_a_killed_owner_lets_the_lock_go(tmp_path, owners):
    path = str(tmp_path / "run.lock")
    first, second = owners(), owners()
    rl.acquire(path, first.pid, timeout=0)
    first.send_signal(signal.SIGKILL)
    first.wait()
    got = rl.acquire(path, second.pid, timeout=10)
    assert got["acquired"] and got["holder"]["pid"] == second.pid
    assert got["waited"] < 5  # the watcher looks every WATCH_EVERY seconds
    second.kill()
    second.wait()
    assert _free_within(path, 5)
    with open(path) as f:
        assert f.read() == ""  # the watcher empties the file when its owner is gone


def test_waiting_says_who_holds_it_and_gives_up_after_the_timeout(tmp_path, owners):
    path = str(tmp_path / "run.lock")
    first, second = owners(), owners()
    rl.acquire(path, first.pid, timeout=0)
    lines = []
    begin = time.monotonic()
    with pytest.raises(rl.RunLockError, match=r"\(waited [23] s\)"):
        rl.acquire(path, second.pid, timeout=2.5, progress=lines.append, progress_every=0.4)
    assert time.monotonic() - begin >= 2.5
    assert len(lines) >= 2 and all("waiting for" in line and "pid %d" % first.pid in line for line in lines)


def test_a_short_wait_says_whom_it_waits_for_at_once(tmp_path, owners):
    """Not only after progress_every: a run that waited 20 s behind another said nothing before."""
    path = str(tmp_path / "run.lock")
    first, second = owners(), owners()
    rl.acquire(path, first.pid, timeout=0)
    lines = []
    with pytest.raises(rl.RunLockError):
        rl.acquire(path, second.pid, timeout=1.5, progress=lines.append, progress_every=30)
    assert len(lines) == 1 and "waiting for" in lines[0] and "pid %d" % first.pid in lines[0], lines


def test_check_mode_without_a_workspace_creates_nothing(tmp_path, owners):
    path = str(tmp_path / "none" / "run.lock")
    got = rl.acquire(path, owners().pid, timeout=0, check_mode=True)
    assert not got["acquired"] and "nothing to lock" in got["msg"]
    assert not os.path.exists(str(tmp_path / "none"))


def test_bad_owner_and_timeout_are_clear_errors(tmp_path, owners):
    with pytest.raises(rl.RunLockError, match="not running on this machine"):
        rl.acquire(str(tmp_path / "run.lock"), 999999999, timeout=0)
    with pytest.raises(rl.RunLockError, match="path must be an absolute path"):
        rl.acquire("ws/run.lock", owners().pid, timeout=0)
    with pytest.raises(rl.RunLockError, match="timeout must be 0 or more"):
        rl.acquire(str(tmp_path / "run.lock"), owners().pid, timeout=-1)


def test_a_workspace_that_cannot_be_made_is_a_clear_error(tmp_path, owners):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(rl.RunLockError, match="cannot create the workspace directory .*check nvflare_workspace"):
        rl.acquire(str(tmp_path / "file" / "ws" / "run.lock"), owners().pid, timeout=0)
    # a directory where the lock file should be
    (tmp_path / "ws" / "run.lock").mkdir(parents=True)
    with pytest.raises(rl.RunLockError, match="cannot open the lock file"):
        rl.acquire(str(tmp_path / "ws" / "run.lock"), owners().pid, timeout=0)


@pytest.mark.parametrize("argv, summary", [
    (["/usr/bin/python3", "/v/bin/ansible-playbook", "-i", "inv", "site.yml"], "ansible-playbook site.yml"),
    (["/v/bin/ansible-playbook", "-i", "inv.yml", "--inventory", "b.yaml", "site.yml"], "ansible-playbook site.yml"),
    (["/v/bin/ansible-playbook", "-e", "pw=s3cret", "-e", "x.yml", "--extra-vars", "y.yaml", "-e", "@vars.yml",
      "playbooks/deploy.yml"], "ansible-playbook playbooks/deploy.yml"),
    (["/v/bin/ansible-playbook", "-e", "k=v.yml", "a.yml", "b.yaml"], "ansible-playbook a.yml b.yaml"),
    (["python3", "x.py"], "python3"),
    ([], "?"),
])
def test_the_holder_names_its_playbooks_never_its_variables(argv, summary):
    assert rl.command_summary(argv) == summary


def test_the_owner_is_the_topmost_ansible_process_above_a_forked_worker(tmp_path):
    # a stand-in ansible-playbook forks a worker (same command line, as Ansible's workers have), and the worker
    # starts a process that looks for its owner, as the module process or the action plugin does
    script = tmp_path / "ansible-playbook"
    script.write_text(textwrap.dedent("""\
        import os, subprocess, sys
        code = ("import sys; sys.path.insert(0, %r); "
                "from ansible_collections.edgefl.nvflare.plugins.module_utils._run_lock import find_owner; "
                "print(find_owner())")
        pid = os.fork()
        if pid == 0:
            out = subprocess.run([sys.executable, "-c", code % sys.argv[1]], capture_output=True, text=True)
            sys.stdout.write("worker=%d found=%s" % (os.getpid(), out.stdout.strip() or out.stderr))
            sys.stdout.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        sys.stdout.write(" main=%d" % os.getpid())
        """))
    out = subprocess.run([sys.executable, str(script), COLLECTIONS], capture_output=True, text=True, check=True)
    fields = dict(kv.split("=") for kv in out.stdout.split())
    assert fields["found"] == fields["main"] != fields["worker"], out.stdout


@pytest.mark.parametrize("argv, owner", [
    (["/usr/bin/python3", "/v/bin/ansible-playbook", "site.yml"], True),
    (["/v/bin/ansible-playbook", "site.yml"], True),
    (["/usr/bin/python3.11", "-P", "/usr/local/bin/ansible-playbook-3.11", "x.yml"], True),
    (["/v/bin/ansible-navigator", "run", "site.yml"], False),  # stays open after the run
    (["/v/bin/ansible-pull", "-U", "url"], False),  # runs ansible-playbook as a child, which owns it
    (["/usr/bin/python3", "-m", "pytest"], False),
    ([], False),
])
def test_only_ansible_playbook_owns_the_lock(argv, owner):
    assert rl.is_ansible_cli(argv) is owner


def test_no_ansible_process_above_is_none():
    assert rl.find_owner() is None or rl.is_ansible_cli(rl.argv_of(rl.find_owner()))
    assert rl.find_owner(pid=1) is None


# Through Ansible: real ansible-playbook runs of the collection's playbooks/run_lock.yml, then a task that marks the
# time it held the federation.
ROOT = os.path.dirname(COLLECTIONS)
PLAY = """
- name: Take the lock
  ansible.builtin.import_playbook: %(root)s/playbooks/run_lock.yml

- name: Work while holding it
  hosts: nvflare_server:nvflare_clients
  gather_facts: false
  tasks:
    - name: Mark the start, work, mark the end
      ansible.builtin.shell: "echo start {{ tag }} $(date +%%s.%%N) >> marks; sleep {{ hold | default(2) }}; echo end {{ tag }} $(date +%%s.%%N) >> marks"
      run_once: true
      changed_when: false
"""
INVENTORY = """
all:
  vars: {ansible_connection: local, ansible_python_interpreter: "%s", nvflare_workspace: "%s", nvflare_project_name: p}
  children:
    nvflare_server: {hosts: {srv: }}
    nvflare_clients: {hosts: {c1: , c2: }}
"""


def _playbook(tmp_path, *extra):
    (tmp_path / "play.yml").write_text(PLAY % {"root": ROOT})
    (tmp_path / "inv.yml").write_text(INVENTORY % (sys.executable, tmp_path / "ws"))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    return subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inv.yml",
                             "play.yml", *extra], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _held(tmp_path, seconds=60):
    """Wait until a run has written itself into the lock file (it holds the lock then); a loaded machine may take
    seconds to start ansible-playbook."""
    lock = tmp_path / "ws" / ".edgefl-run-p.lock"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if lock.exists() and lock.stat().st_size:
            return json.loads(lock.read_text())
        time.sleep(0.1)
    raise AssertionError("no run took the lock within %d s" % seconds)


def _marks(tmp_path):
    spans = {}
    for line in (tmp_path / "marks").read_text().split("\n"):
        if line:
            what, tag, when = line.split()
            spans.setdefault(tag, {})[what] = float(when)
    return spans


def test_two_runs_at_once_take_turns(tmp_path):
    first = _playbook(tmp_path, "-e", "tag=a", "-e", "hold=4")
    assert _held(tmp_path)["pid"] == first.pid
    second = _playbook(tmp_path, "-e", "tag=b", "-e", "hold=1")
    out_a, out_b = first.communicate(timeout=120)[0], second.communicate(timeout=120)[0]
    assert first.returncode == 0 and second.returncode == 0, out_a + out_b
    spans = _marks(tmp_path)
    a, b = spans["a"], spans["b"]
    assert a["end"] <= b["start"], spans  # the second worked only after the first had ended


def test_a_waiting_run_names_the_holder_while_it_waits(tmp_path):
    """The holder line was a Display.warning() of the worker, which ansible-core 2.19 shows only with the task's
    result: a run waiting up to 30 minutes said whom it waited for once the wait was over."""
    first = _playbook(tmp_path, "-e", "tag=a", "-e", "hold=20")
    assert _held(tmp_path)["pid"] == first.pid
    second = _playbook(tmp_path, "-e", "tag=b", "-e", "hold=0")
    seen = None
    for line in second.stdout:
        if "waiting for" in line:
            seen = line
            break
    # read while the first run still holds the lock (it holds it for 20 s)
    still_held = first.poll() is None and not (tmp_path / "marks").read_text().count("end a")
    out_a, out_b = first.communicate(timeout=120)[0], second.communicate(timeout=120)[0]
    assert seen is not None, out_b
    assert still_held, (seen, out_a)
    assert "[WARNING]:" in seen and "pid %d" % first.pid in seen, seen


def test_a_run_that_does_not_wait_names_the_holder_and_changes_nothing(tmp_path):
    first = _playbook(tmp_path, "-e", "tag=a", "-e", "hold=5")
    assert _held(tmp_path)["pid"] == first.pid
    second = _playbook(tmp_path, "-e", "tag=b", "-e", "nvflare_run_lock_timeout=0", "--limit", "c1")
    out_b = second.communicate(timeout=120)[0]
    first.communicate(timeout=120)
    assert second.returncode != 0, out_b
    flat = " ".join(out_b.split())  # the result is wrapped over lines
    assert "another run is changing this federation: ansible-playbook play.yml (pid %d," % first.pid in flat, out_b
    assert "b" not in _marks(tmp_path)  # its own work never ran


def test_a_killed_run_lets_the_next_go_once_its_workers_finished(tmp_path):
    """kill -9 of ansible-playbook does not reach its workers (each in a session of its own): the one running the
    task goes on with it. The next run waits for that task, not for a stale lock, and says why; it used to start
    at once and work next to it."""
    first = _playbook(tmp_path, "-e", "tag=a", "-e", "hold=6")
    deadline = time.monotonic() + 60
    while not (tmp_path / "marks").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # the watcher looks for the owner's workers every WATCH_EVERY seconds
    first.send_signal(signal.SIGKILL)
    first.communicate()
    second = _playbook(tmp_path, "-e", "tag=b", "-e", "hold=0", "-e", "nvflare_run_lock_timeout=60")
    out_b = second.communicate(timeout=120)[0]
    assert second.returncode == 0, out_b
    spans = _marks(tmp_path)
    assert "end" in spans["a"] and spans["a"]["end"] <= spans["b"]["start"], spans  # one after the other
    assert "which was stopped while 1 of its workers ran a task on a host" in " ".join(out_b.split()), out_b
    # then nothing is left to wait for
    begin = time.monotonic()
    third = _playbook(tmp_path, "-e", "tag=c", "-e", "hold=0", "-e", "nvflare_run_lock_timeout=0")
    out_c = third.communicate(timeout=120)[0]
    assert third.returncode == 0 and time.monotonic() - begin < 60, out_c


def test_a_killed_owner_keeps_the_lock_until_its_workers_exit(tmp_path, owners):
    """The watcher holds the lock for the workers a killed owner leaves (children in sessions of their own) and
    names them to a waiting run; an owner without workers lets go at once (test_a_killed_owner_lets_the_lock_go)."""
    path = str(tmp_path / "run.lock")
    # the worker runs a command (a child of its own), as a worker running a task on a host runs ssh
    code = ("import os, subprocess, time\nif os.fork() == 0:\n    os.setsid(); subprocess.run(['sleep', '4']); "
            "os._exit(0)\ntime.sleep(120)")
    owner = subprocess.Popen([sys.executable, "-c", code])
    try:
        rl.acquire(path, owner.pid, timeout=0)
        time.sleep(1.5)  # seen by the watcher
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        second = owners()
        with pytest.raises(rl.RunLockError) as exc:
            rl.acquire(path, second.pid, timeout=1)
        assert "which was stopped while 1 of its workers ran a task on a host" in exc.value.args[0], exc.value.args[0]
        got = rl.acquire(path, second.pid, timeout=20)
        assert got["acquired"] and got["holder"]["pid"] == second.pid
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_a_worker_that_runs_nothing_does_not_keep_the_lock(tmp_path, owners):
    """A worker left without a command of its own has done its task (it may be stuck handing its result to the dead
    owner): the lock goes at once."""
    path = str(tmp_path / "run.lock")
    code = "import os, time\nif os.fork() == 0:\n    os.setsid(); time.sleep(30); os._exit(0)\ntime.sleep(120)"
    owner = subprocess.Popen([sys.executable, "-c", code])
    worker = None
    try:
        rl.acquire(path, owner.pid, timeout=0)
        time.sleep(1.5)
        worker = list(rl.children_of(owner.pid))
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert worker and _free_within(path, 5)
    finally:
        for pid in worker or []:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


# hold(): the lock for one step of a run (submitting a job), not for the whole run.
def test_hold_keeps_others_out_for_the_block_only(tmp_path, owners):
    path = str(tmp_path / "ws" / ".edgefl-run-p.lock")
    first, second = owners(), owners()
    with rl.hold(path, first.pid, timeout=0) as got:
        assert got["acquired"] and not got["held_by_this_run"]
        with open(path) as f:
            assert json.load(f)["pid"] == first.pid
        with pytest.raises(rl.RunLockError) as err:
            rl.acquire(path, second.pid, timeout=0)
        assert "pid %d" % first.pid in str(err.value)
    # let go at once, with nothing left in the file, although the owner still runs
    assert os.path.getsize(path) == 0
    assert _free_within(path, 0.5)
    assert rl.acquire(path, second.pid, timeout=0)["acquired"]


def test_hold_within_a_run_that_holds_the_lock_goes_on_and_keeps_it(tmp_path, owners):
    path = str(tmp_path / "ws" / ".edgefl-run-p.lock")
    owner = owners()
    rl.acquire(path, owner.pid, timeout=0)
    with rl.hold(path, owner.pid, timeout=0) as got:
        assert got["held_by_this_run"] and not got["acquired"]
    # still the run's: the file names it and nobody else gets in
    with open(path) as f:
        assert json.load(f)["pid"] == owner.pid
    assert not _free_within(path, 1)


def test_hold_waits_for_a_run_then_gives_up_naming_it(tmp_path, owners):
    path = str(tmp_path / "ws" / ".edgefl-run-p.lock")
    first, second = owners(), owners()
    rl.acquire(path, first.pid, timeout=0)
    said = []
    begin = time.monotonic()
    with pytest.raises(rl.RunLockError) as err:
        with rl.hold(path, second.pid, timeout=2, progress=said.append, progress_every=0.5):
            pytest.fail("the block ran without the lock")
    assert time.monotonic() - begin >= 2
    assert "pid %d" % first.pid in str(err.value) and said and "pid %d" % first.pid in said[0]
    # the run that holds it keeps it
    with open(path) as f:
        assert json.load(f)["pid"] == first.pid


def test_a_removed_lock_file_is_taken_again_at_its_path(tmp_path, owners):
    """A run waiting on a lock file that was removed meanwhile (uninstall.yml's workspace removal, an rm -rf) takes
    the file now at the path once it gets the old one, so it cannot work beside a run that took the new file."""
    import threading

    path = str(tmp_path / "ws" / ".edgefl-run-p.lock")
    first, second, third = owners(), owners(), owners()
    rl.acquire(path, first.pid, timeout=0)
    outcome = {}

    def wait_second():
        try:
            outcome["got"] = rl.acquire(path, second.pid, timeout=4)
        except rl.RunLockError as exc:
            outcome["error"] = str(exc)

    waiter = threading.Thread(target=wait_second)
    waiter.start()
    time.sleep(0.5)  # the second waits on the file the first holds
    os.unlink(path)
    assert rl.acquire(path, third.pid, timeout=0)["acquired"]  # a new file at the path: free
    first.kill()
    first.wait()  # the first's file is let go: the second must not take it as the lock
    waiter.join(10)
    assert "error" in outcome, outcome
    assert "pid %d" % third.pid in outcome["error"]


SUBMIT = os.path.join(ROOT, "playbooks", "submit_job.yml")


def _submit(tmp_path, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inv.yml",
                           SUBMIT, "-v", *extra], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, check=False)


def test_a_job_is_not_submitted_while_another_run_changes_the_federation(tmp_path):
    first = _playbook(tmp_path, "-e", "tag=a", "-e", "hold=8")
    assert _held(tmp_path)["pid"] == first.pid
    refused = _submit(tmp_path, "-e", "nvflare_run_lock_timeout=0")
    flat = " ".join(refused.stdout.split())
    assert refused.returncode != 0, refused.stdout
    assert "another run is changing this federation: ansible-playbook play.yml (pid %d," % first.pid in flat, flat
    assert "Nothing was submitted" in flat and '"error": "run_lock"' in flat, flat
    # waiting: it submits only once the first run has ended (the job module then finds no admin kit: no server here)
    waited = _submit(tmp_path, "-e", "nvflare_run_lock_timeout=60")
    first.communicate(timeout=120)
    flat = " ".join(waited.stdout.split())
    assert waited.returncode != 0 and '"error": "run_lock"' not in flat, flat
    got = json.JSONDecoder().raw_decode(flat, flat.index('"run_lock": {') + len('"run_lock": '))[0]
    assert got["acquired"] and got["waited"] >= 1, got
    # it got the lock only once the first run had done its work (and the run's watcher had let go); since: seconds
    since = calendar.timegm(time.strptime(got["holder"]["since"], "%Y-%m-%dT%H:%M:%SZ"))
    assert since + 1 >= _marks(tmp_path)["a"]["end"], (got, _marks(tmp_path))
    lock = tmp_path / "ws" / ".edgefl-run-p.lock"
    assert lock.stat().st_size == 0 and _free_within(str(lock), 1)


@pytest.mark.parametrize("server, workspace, said, extra", [
    ("", "{ws}", "inventory group 'nvflare_server' must hold exactly one host (the NVFLARE server), it holds none; put",
     None),
    ("nvflare_server: {hosts: {s: }}", "ws", "nvflare_workspace 'ws' is a relative path: Ansible would read it from a "
     "different directory in each playbook; give an absolute control-node directory (or one under ~)", None),
    ("nvflare_server: {hosts: {s: }}", None, "nvflare_workspace is not set: set it (group_vars/all) to an absolute "
     "control-node directory", None),
    ("nvflare_server: {hosts: {s: }}\n    nvflare_relay: {hosts: {r1: }}", "{ws}", "inventory group 'nvflare_relay' "
     "(1 host) looks like a misspelling of 'nvflare_relays', which the playbooks read and which is missing", None),
    ("nvflare_server: {hosts: {s: }}", "{ws}", "nvflare_control_python 'nv/bin/python' is a relative path: Ansible "
     "runs the control-node tasks that use it from the directory of each playbook", ["-e", "nvflare_control_python=nv/bin/python"]),
    # before the bootstrap, which installs a Python on a host that has none
    ("nvflare_server: {hosts: {s: }}", "{ws}", "nvflare_version '2.x' is not an NVFLARE release this collection deploys",
     ["-e", "nvflare_version=2.x"]),
    # a play keyword of the deploy, read only after the bootstrap
    ("nvflare_server: {hosts: {s: }}", "{ws}", "nvflare_rollout_batch must be at least 1 client, got '0'",
     ["-e", "nvflare_rollout_batch=0"]),
])
def test_an_inventory_without_a_server_or_workspace_stops_before_any_host(tmp_path, server, workspace, said, extra):
    ws = "" if workspace is None else ', nvflare_workspace: "%s"' % workspace.format(ws=tmp_path / "ws")
    (tmp_path / "inv.yml").write_text("""
all:
  vars: {ansible_connection: ssh, ansible_host: 192.0.2.1%s}
  children:
    %s
    nvflare_clients: {hosts: {c1: , c2: }}
""" % (ws, server))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    for book in ("site.yml", "playbooks/stop.yml"):
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inv.yml",
                               os.path.join(ROOT, book), *(extra or [])], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120, check=False)
        flat = " ".join(proc.stdout.split())
        assert proc.returncode != 0, proc.stdout
        assert said in flat, proc.stdout
        assert "UNREACHABLE" not in proc.stdout and "Bootstrap" not in proc.stdout, proc.stdout
        assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize("book", ["playbooks/status.yml", "playbooks/wait.yml", "playbooks/doctor.yml",
                                  "playbooks/submit_job.yml"])
def test_a_read_only_playbook_stops_a_broken_inventory_before_any_host(tmp_path, book):
    """The read-only playbooks import run_lock.yml without taking the lock: the same inventory mistakes stop them in
    their first play, with the model's message, rather than late with Ansible's own (a relative interpreter: 'not
    found')."""
    (tmp_path / "inv.yml").write_text("""
all:
  vars: {ansible_connection: ssh, ansible_host: 192.0.2.1, nvflare_workspace: "%s"}
  children:
    nvflare_server: {hosts: {s: }}
    nvflare_clients: {hosts: {c1: , c2: }}
""" % (tmp_path / "ws"))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inv.yml",
                           os.path.join(ROOT, book), "-e", "nvflare_control_python=nv/bin/python"], cwd=str(tmp_path),
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120, check=False)
    flat = " ".join(proc.stdout.split())
    assert proc.returncode != 0, proc.stdout
    assert "nvflare_control_python 'nv/bin/python' is a relative path" in flat, proc.stdout
    assert "UNREACHABLE" not in proc.stdout, proc.stdout
    assert not (tmp_path / "ws").exists()


def test_a_read_only_import_takes_no_lock(tmp_path):
    """run_lock.yml imported with __edgefl_run_lock_take: false (status, wait, doctor, submit_job) checks the
    inventory and goes on at once while another run holds the lock, without waiting for it."""
    first = _playbook(tmp_path, "-e", "tag=a", "-e", "hold=8")
    assert _held(tmp_path)["pid"] == first.pid
    (tmp_path / "ro.yml").write_text(PLAY.replace(
        "run_lock.yml\n", "run_lock.yml\n  vars: {__edgefl_run_lock_take: false}\n", 1) % {"root": ROOT})
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    second = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inv.yml",
                             "ro.yml", "-e", "tag=b", "-e", "hold=0", "-e", "nvflare_run_lock_timeout=0"],
                            cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=120, check=False)
    out_a = first.communicate(timeout=120)[0]
    assert second.returncode == 0 and first.returncode == 0, second.stdout + out_a
    spans = _marks(tmp_path)
    assert spans["b"]["end"] < spans["a"]["end"], spans  # it worked while the first run held the lock


def test_an_owner_that_exited_but_was_not_reaped_lets_go(tmp_path):
    """A zombie has ended: its /proc entry, with the same start time, stays until its parent waits for it."""
    path = str(tmp_path / "ws" / ".edgefl-run-p.lock")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
    try:
        rl.acquire(path, proc.pid, timeout=0)
        time.sleep(1.5)  # it has exited; this test, its parent, has not reaped it
        assert rl.stat_of(proc.pid)[2] == "Z"
        assert _free_within(path, 3)
    finally:
        proc.wait()


def test_uninstall_removes_the_workspace_but_the_lock_its_run_holds(tmp_path):
    ws = tmp_path / "ws"
    (ws / "p" / "state").mkdir(parents=True)
    (ws / "p" / "state" / "rootCA.key").write_text("not a key")
    (ws / ".p.upgrade-previous" / "state").mkdir(parents=True)
    (ws / "admin").mkdir()
    (ws / "results" / "job-1").mkdir(parents=True)
    (ws / ".hidden").write_text("x")
    (tmp_path / "inv.yml").write_text(INVENTORY % (sys.executable, ws) + "  hosts: {localhost: }\n")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", HOME=str(tmp_path / "home"))

    def uninstall(*extra):
        return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inv.yml",
                               os.path.join(ROOT, "playbooks", "uninstall.yml"), "--limit", "localhost", "-e",
                               "nvflare_uninstall_workspace=true", *extra], cwd=str(tmp_path), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)

    checked = uninstall("--check")
    assert checked.returncode == 0, checked.stdout
    assert (ws / "p" / "state" / "rootCA.key").exists() and (ws / ".hidden").exists()
    done = uninstall()
    assert done.returncode == 0 and "changed=1" in done.stdout, done.stdout
    # what provisioning made is gone; job results and what it did not make stay, named; the run lock was held
    # through the removal and is let go, empty, once the run has ended
    assert sorted(os.listdir(ws)) == [".edgefl-run-p.lock", ".hidden", "results"]
    flat = " ".join(done.stdout.split())
    assert ("Kept in %s (not removed by uninstall.yml, delete by hand if not needed): .hidden (not made by "
            "provisioning); results (job results (submit_job.yml))" % ws) in flat, flat
    assert _free_within(str(ws / ".edgefl-run-p.lock"), 3)
    assert (ws / ".edgefl-run-p.lock").stat().st_size == 0
    again = uninstall()
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout


def test_uninstall_keeps_what_provisioning_did_not_make(tmp_path):
    """A workspace pointed at a directory that holds other things (here a home directory): only the project goes."""
    ws = tmp_path / "home"
    for d in ("Documents", ".ssh", "p/state", "p/kits/site-1/startup", "other/state", "other/kits", "p2"):
        (ws / d).mkdir(parents=True)
    (ws / ".ssh" / "id_ed25519").write_text("user key")
    (ws / "p2" / "notes.txt").write_text("x")
    assert workspace_removal(str(ws), "p") == {
        "remove": [str(ws / "p")],
        "keep": [".ssh (not made by provisioning)", "Documents (not made by provisioning)",
                 "other (another federation's provisioning project)", "p2 (not made by provisioning)"]}
    # a directory of the project's name that provisioning did not make stays
    (ws / "p" / "state").rmdir()
    (ws / "p" / "kits" / "site-1" / "startup").rmdir()
    (ws / "p" / "kits" / "site-1").rmdir()
    (ws / "p" / "kits").rmdir()
    assert workspace_removal(str(ws), "p")["remove"] == []
    assert workspace_removal(str(tmp_path / "none"), "p") == {"remove": [], "keep": []}
    for bad in ("", "/", "rel/ws"):
        with pytest.raises(AnsibleFilterError, match="absolute directory"):
            workspace_removal(bad, "p")


def test_a_restore_waits_for_a_run_that_changes_the_federation(tmp_path):
    first = _playbook(tmp_path, "-e", "tag=a", "-e", "hold=6")
    assert _held(tmp_path)["pid"] == first.pid
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")

    def restore(*extra):
        return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inv.yml",
                               os.path.join(ROOT, "playbooks", "restore.yml"), "-e",
                               "nvflare_backup_file=%s" % (tmp_path / "no-such.vault"), *extra], cwd=str(tmp_path),
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
                              check=False)

    refused = restore("-e", "nvflare_run_lock_timeout=0")
    flat = " ".join(refused.stdout.split())
    assert refused.returncode != 0 and "no archive at" not in flat, flat
    assert "another run is changing this federation: ansible-playbook play.yml (pid %d," % first.pid in flat, flat
    # once the first has ended the restore goes on (and here finds no archive: it got past the lock)
    waited = restore("-e", "nvflare_run_lock_timeout=60")
    first.communicate(timeout=120)
    flat = " ".join(waited.stdout.split())
    assert waited.returncode != 0 and "no archive at %s" % (tmp_path / "no-such.vault") in flat, flat
