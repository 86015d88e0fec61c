# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kit archives kit_push packs on the control node (private keys inside): what a killed run leaves of them is
removed by the next kit_push or run lock, and an archive a live run uses never is (plugins/plugin_utils/_kit_tmp.py,
through ansible-playbook with real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import flat, run_playbook

from ansible_collections.edgefl.nvflare.plugins.module_utils._run_lock import start_time
from ansible_collections.edgefl.nvflare.plugins.plugin_utils import _kit_tmp


def plant(directory, name, age=0.0, text="KEY"):
    path = directory / name
    path.write_text(text)
    os.chmod(path, 0o600)
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def ended_process():
    """(pid, start time) of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    started = int(start_time(proc.pid) or 0)
    assert started
    proc.kill()
    proc.wait()
    return proc.pid, started


def test_sweep_removes_only_what_ended_runs_left(tmp_path):
    me, my_start = os.getpid(), int(start_time(os.getpid()) or 0)
    dead, dead_start = ended_process()
    live = plant(tmp_path, "edgefl-kit-%d-%d-abc.tar" % (me, my_start))
    # the pid alive, but started at another time: another process reuses the number of an ended run
    reused = plant(tmp_path, "edgefl-kit-%d-%d-abc.tar" % (me, my_start + 1))
    gone = plant(tmp_path, "edgefl-kit-%d-%d-xyz.tar" % (dead, dead_start))
    # no readable start time: only by age
    unknown_young = plant(tmp_path, "edgefl-kit-%d-0-a.tar" % dead)
    unknown_old = plant(tmp_path, "edgefl-kit-%d-0-b.tar" % dead, age=_kit_tmp.LEGACY_AGE + 60)
    # the name before owners were in it
    legacy_young = plant(tmp_path, "tmpab12.edgefl-kit.tar")
    legacy_old = plant(tmp_path, "tmpcd34.edgefl-kit.tar", age=_kit_tmp.LEGACY_AGE + 60)
    # not ours: other names, a directory, another user's file
    other = plant(tmp_path, "edgefl-kit-notes.txt", age=_kit_tmp.LEGACY_AGE + 60)
    (tmp_path / ("edgefl-kit-%d-%d-dir.tar" % (dead, dead_start))).mkdir()
    foreign = plant(tmp_path, "edgefl-kit-%d-%d-other.tar" % (dead, dead_start))
    os.chown(foreign, 65534, 65534)
    removed = _kit_tmp.sweep(str(tmp_path))
    assert removed == sorted(str(p) for p in (reused, gone, unknown_old, legacy_old))
    for kept in (live, unknown_young, legacy_young, other, foreign):
        assert kept.exists()
    assert _kit_tmp.sweep(str(tmp_path)) == []
    assert _kit_tmp.sweep(str(tmp_path / "missing")) == []


def test_an_archive_is_named_after_its_ansible_playbook_process(tmp_path):
    fd, path = _kit_tmp.make(str(tmp_path))
    os.close(fd)
    pid, started = _kit_tmp.owner()
    assert os.path.basename(path).startswith("edgefl-kit-%d-%d-" % (pid, started)) and path.endswith(".tar")
    assert started and os.stat(path).st_mode & 0o777 == 0o600
    # its owner lives: kept
    assert _kit_tmp.sweep(str(tmp_path)) == [] and os.path.exists(path)


PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Take the run lock
      edgefl.nvflare.run_lock:
        path: "{{ lock }}"
      register: lock_result
      when: lock is defined
    - name: Show
      ansible.builtin.debug:
        msg: "removed={{ lock_result.removed_kit_archives | default('none') }}"
      when: lock is defined
    - name: Push the kit
      edgefl.nvflare.kit_push:
        src: "{{ src }}"
        dest: "{{ dest }}"
        files: [startup/client.key, startup/client.crt]
      when: src is defined
"""


def _run(tmp_path, tmp, *extra):
    (tmp_path / "play.yml").write_text(PLAY)
    env_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp)
    try:
        return run_playbook(tmp_path, "-i", "localhost,", "-c", "local", "-e",
                            "ansible_python_interpreter=" + sys.executable, "play.yml", *extra)
    finally:
        if env_tmp is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = env_tmp


def test_a_kit_push_removes_what_a_killed_run_left_and_leaves_nothing_itself(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    dead, dead_start = ended_process()
    left = plant(tmp, "edgefl-kit-%d-%d-q1.tar" % (dead, dead_start))
    src, dest = tmp_path / "kit", tmp_path / "host"
    for rel in ("startup/client.key", "startup/client.crt"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("PRIVATE" if rel.endswith(".key") else "CRT")
    (dest / "startup").mkdir(parents=True)
    proc = _run(tmp_path, tmp, "-e", "src=%s dest=%s" % (src, dest))
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out[-3000:]
    assert (dest / "startup" / "client.key").read_text() == "PRIVATE"
    assert not left.exists()
    assert not [n for n in os.listdir(tmp) if "edgefl-kit" in n]


def test_a_run_killed_mid_push_leaves_an_archive_the_next_run_lock_removes(tmp_path):
    """A real ansible-playbook killed with SIGKILL while its kit_push holds the packed archive (the transfer stopped
    in the middle: the pack is in place); the next run's run lock removes it, and says how many it removed."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    src, dest = tmp_path / "kit", tmp_path / "host"
    (src / "startup").mkdir(parents=True)
    (src / "startup" / "client.key").write_text("PRIVATE")
    (src / "startup" / "client.crt").write_text("CRT")
    (dest / "startup").mkdir(parents=True)
    # a transfer that never ends: the connection's put_file blocks on a FIFO in place of the host's directory
    (tmp_path / "play.yml").write_text(PLAY)
    cfg = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "ansible.cfg")
    env = dict(os.environ, TMPDIR=str(tmp), ANSIBLE_CONFIG=cfg)
    stall = tmp_path / "stall.py"
    stall.write_text(
        "import time\n"
        "from ansible.plugins.connection import local\n"
        "def put_file(self, in_path, out_path):\n"
        "    open('%s', 'w').write(in_path)\n"
        "    time.sleep(600)\n"
        "local.Connection.put_file = put_file\n" % (tmp_path / "packed"))
    # run ansible-playbook in a Python that patches the local connection first (so the kill lands mid-transfer)
    script = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    argv = [sys.executable, "-c",
            "import runpy, sys; exec(open(%r).read()); sys.argv = ['ansible-playbook'] + sys.argv[1:]; "
            "runpy.run_path(%r, run_name='__main__')" % (str(stall), script),
            "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
            "-e", "src=%s dest=%s" % (src, dest), "play.yml"]
    proc = subprocess.Popen(argv, cwd=str(tmp_path), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "packed").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert (tmp_path / "packed").exists(), "the push never reached its transfer"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    packed = (tmp_path / "packed").read_text()
    assert os.path.basename(packed).startswith("edgefl-kit-") and os.path.exists(packed)
    assert open(packed, "rb").read().count(b"PRIVATE") == 1  # the key is in it
    proc = _run(tmp_path, tmp, "-e", "lock=%s" % (tmp_path / "run.lock"))
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0 and "removed=1" in out, out[-3000:]
    assert not os.path.exists(packed)
