# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The run lock of a federation: one ansible-playbook run at a time changes it (private to edgefl.nvflare).

Two operators who start ``site.yml`` on the same control node at once would otherwise converge the same hosts
together: one run unpacks the golden venv while the other runs pip into the same directory, and the second apt-get
fails on the first one's lock. The lock is an exclusive ``flock`` on a file next to the provisioning workspace,
taken for the whole ansible-playbook run, not for one task:

- the task finds the ansible-playbook process that runs it (its *owner*);
- it waits for the lock (saying who holds it at least every 30 s), writes its owner into the file, and leaves a
  small watcher process holding the lock;
- the watcher lets go as soon as the owner has exited, however it ended (kill -9 too), and the workers a killed
  owner leaves behind have finished their task: no stale lock is left, and nothing has to be cleaned up;
- a later task of the same run (``site.yml`` imports several playbooks that each take it) finds its own owner in
  the file and goes on at once.

Control node only: the owner is a process on this machine.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time

from ansible_collections.edgefl.nvflare.plugins.module_utils._files import read_bytes, user_name

# the options of edgefl.nvflare.run_lock (its module and its action plugin)
ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "timeout": {"type": "int", "default": 1800},
}
PROGRESS_EVERY = 30.0  # seconds between two "still waiting" lines
FIRST_LINE_AFTER = 1.0  # a wait says whom it waits for once it has waited this long (the holder has written its name)
WATCH_EVERY = 0.5  # seconds between two looks of the watcher at its owner
PLAYBOOK_SUFFIXES = (".yml", ".yaml")
# options whose value may end in .yml without being a playbook (variables, an inventory)
VALUE_OPTIONS = ("-e", "--extra-vars", "-i", "--inventory", "--inventory-file")


class RunLockError(Exception):
    """A clear, user-facing reason the lock was not taken."""


def argv_of(pid):
    """The command line of a process, or None when it is gone or unreadable."""
    data = read_bytes("/proc/%d/cmdline" % pid)
    if not data:
        return None
    return [a.decode("utf-8", "replace") for a in data.split(b"\0") if a]


def stat_of(pid):
    """(parent pid, start time in clock ticks since boot, state letter) of a process, or None when it is gone."""
    data = read_bytes("/proc/%d/stat" % pid)
    if not data:
        return None
    # the command name (field 2) is in parentheses and may hold spaces or parentheses: split after the last ')'
    fields = data[data.rfind(b")") + 2:].split()
    try:
        return int(fields[1]), int(fields[19]), fields[0].decode("ascii", "replace")
    except (IndexError, ValueError):
        return None


def start_time(pid):
    st = stat_of(pid)
    return st[1] if st else None


def alive(pid, started):
    """True while the process pid is the one that started at ``started`` (not a later process with its number) and
    has not exited (a zombie its parent has not reaped yet has ended)."""
    st = stat_of(pid) if pid > 0 else None
    return bool(st) and st[1] == started and st[2] not in ("Z", "X")


def is_ansible_cli(argv):
    """An ansible-playbook process: the program, or the script its Python runs. Not the other ansible commands: a
    tool that runs ansible-playbook for a person and stays open (ansible-navigator) must not own the lock."""
    return any(os.path.basename(arg).startswith("ansible-playbook") for arg in (argv or [])[:3])


def find_owner(pid=None):
    """The ansible-playbook process this process runs under, or None.

    Ansible forks its workers from the main process, so a worker has the same command line as its parent: the
    owner is the topmost of the ansible processes the chain of parents passes through first.
    """
    chain = []
    pid = os.getpid() if pid is None else pid
    while pid > 1 and len(chain) < 64:
        chain.append(pid)
        st = stat_of(pid)
        if st is None:
            break
        pid = st[0]
    for i, p in enumerate(chain):
        if is_ansible_cli(argv_of(p)):
            while i + 1 < len(chain) and is_ansible_cli(argv_of(chain[i + 1])):
                i += 1
            return chain[i]
    return None


def run_owner():
    """The process a lock or a kit archive taken in this process belongs to: the ansible-playbook process above it
    (find_owner), or this process's parent (a program that runs playbooks through Ansible's Python API is the worker's
    parent itself)."""
    return find_owner() or os.getppid()


def command_summary(argv):
    """What a holder runs, for a person: the program and its playbooks, never its other arguments (an -e may hold
    a password)."""
    argv = list(argv or [])
    prog = next((os.path.basename(a) for a in argv[:3] if is_ansible_cli([a])), os.path.basename(argv[0]) if argv
                else "?")
    books = [a for prev, a in zip(argv, argv[1:])
             if a.endswith(PLAYBOOK_SUFFIXES) and not a.startswith(("-", "@")) and "=" not in a
             and prev not in VALUE_OPTIONS]
    return " ".join([prog] + books)


def holder_info(owner):
    return {
        "pid": owner,
        "start": start_time(owner),
        "host": socket.gethostname(),
        "user": user_name(),  # as the provisioning lock names its holder
        "command": command_summary(argv_of(owner)),
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def read_holder(fd):
    """The holder the lock file names, or {} (empty, being written, or not ours)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 65536)
        doc = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def describe(holder):
    if not holder.get("pid"):
        return "another run (it has not written its name yet)"
    text = "%s (pid %s, user %s on %s, since %s)" % (
        holder.get("command") or "a run", holder.get("pid"), holder.get("user") or "?", holder.get("host") or "?",
        holder.get("since") or "?")
    workers = holder.get("workers") or []
    if holder.get("stopped") and workers:
        text += (", which was stopped while %d of its workers ran a task on a host: they finish it first (pids %s; "
                 "kill them to stop it there)" % (len(workers), " ".join(str(w) for w in workers)))
    return text


def _try_lock(fd):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise


def _write_holder(fd, holder):
    data = json.dumps(holder, sort_keys=True).encode("utf-8") + b"\n"
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)


def processes():
    """{pid: (parent pid, start time)} of every process (a scan of /proc: a kernel may lack
    /proc/<pid>/task/<tid>/children)."""
    out = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if name.isdigit():
            st = stat_of(int(name))
            if st:
                out[int(name)] = st[:2]
    return out


def children_of(pid):
    """{pid: start time} of the processes whose parent is pid."""
    return dict((p, st[1]) for p, st in processes().items() if st[0] == pid)


def _live(procs):
    return dict((p, s) for p, s in procs.items() if alive(p, s))


def _busy(workers):
    """The workers that still run something: a child (the ssh to a host, a local command). A worker without one has
    done its task and may only be stuck handing its result to the dead owner, which nobody reads any more."""
    parents = set(st[0] for st in processes().values())
    return dict((p, s) for p, s in _live(workers).items() if p in parents)


def _watch(fd, owner, started, sleep=time.sleep):
    """In a process of its own: hold the lock until the owner has exited and, when it was killed, until the workers
    it had forked have exited too; then empty the file (the caller exits).

    Ansible starts each worker in a session of its own: a kill -9 of ansible-playbook (or of its process group) does
    not reach them, and a worker goes on with the task it runs on its host (a venv install, a wait for the server).
    A run that took the lock then would converge that host at the same time. The workers are the owner's children,
    looked for at each look (a scan of /proc, about a millisecond); the lock waits for those that still run a command
    (_busy), and while they finish, the file says so (describe)."""
    workers = {}
    while alive(owner, started):
        try:
            workers.update(children_of(owner))
            workers = _live(workers)
        except Exception:  # pylint: disable=broad-exception-caught
            pass  # the bookkeeping never ends the watch: the lock stays for the owner's life whatever happens
        sleep(WATCH_EVERY)
    workers = _busy(workers)
    if workers:
        holder = read_holder(fd)
        if holder:
            with contextlib.suppress(OSError):
                _write_holder(fd, dict(holder, stopped=True, workers=sorted(workers)))
    while workers:
        sleep(WATCH_EVERY)
        workers = _busy(workers)
    os.ftruncate(fd, 0)


def _hand_to_watcher(fd, owner, started):
    """Leave the lock with a detached process that holds it for as long as the owner runs."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            # the lock's descriptor above 2, so that pointing 0, 1 and 2 at /dev/null cannot close it
            held = fcntl.fcntl(fd, fcntl.F_DUPFD, 3)
            null = os.open(os.devnull, os.O_RDWR)
            for std in (0, 1, 2):
                os.dup2(null, std)
            # nothing else of the caller's (its result pipes, Ansible's queues) stays open in the watcher
            os.closerange(3, held)
            os.closerange(held + 1, 65536)
            _watch(held, owner, started)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _check(path, owner, timeout):
    started = start_time(owner)
    if started is None:
        raise RunLockError("run_lock: the owner process %s is not running on this machine" % owner)
    if not os.path.isabs(path):
        raise RunLockError("run_lock: path must be an absolute path on the control node, got %r" % (path,))
    if timeout < 0:
        raise RunLockError("run_lock: timeout must be 0 or more seconds, got %r" % (timeout,))
    return started


def _open(path):
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        try:
            os.makedirs(parent, 0o700)
        except OSError as exc:
            raise RunLockError("run_lock: cannot create the workspace directory %s for the lock file: %s; check "
                               "nvflare_workspace" % (parent, exc.strerror))
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise RunLockError("run_lock: cannot open the lock file %s: %s; the user running ansible-playbook needs to "
                           "write to the workspace" % (path, exc.strerror))


def _same_file(fd, path):
    """True while path still names the file open at fd. A lock file removed while a run waits on it (the workspace
    removed by hand; uninstall.yml keeps the file) keeps nobody out: a later run takes a new file at the path."""
    try:
        st, now = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino)


def _wait(path, owner, started, timeout, progress, progress_every, monotonic, sleep):
    """Wait for the lock at path. Returns (fd, waited, holder): fd locked by this call, or None with the holder
    when a task of the same run holds it already. Raises RunLockError after timeout seconds."""
    begin = monotonic()
    told = None  # the first line comes after FIRST_LINE_AFTER s of waiting, the next every progress_every s
    while True:
        fd = _open(path)
        try:
            while not _try_lock(fd):
                holder = read_holder(fd)
                if holder.get("pid") == owner and holder.get("start") == started and \
                        holder.get("host") == socket.gethostname():
                    os.close(fd)
                    return None, 0.0, holder
                waited = monotonic() - begin
                if waited >= timeout:
                    raise RunLockError(
                        "run_lock: another run is changing this federation: %s. It holds %s%s. Wait for it to finish "
                        "and run again, or give -e nvflare_run_lock_timeout=<seconds> to wait longer; the lock is let "
                        "go as soon as that ansible-playbook exits, however it ends."
                        % (describe(holder), path, " (waited %d s)" % round(waited) if timeout else ""))
                if progress and (waited >= FIRST_LINE_AFTER if told is None else monotonic() - told >= progress_every):
                    told = monotonic()
                    progress("run_lock: waiting for %s to finish (%d of %d s)"
                             % (describe(holder), round(waited), timeout))
                sleep(min(0.5, max(0.05, timeout - waited)))
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, path):
            return fd, monotonic() - begin, {}
        os.close(fd)  # taken on a file that is gone: take the one at path now


def _held_by_this_run(holder):
    return {"acquired": False, "held_by_this_run": True, "waited": 0.0, "holder": holder,
            "msg": "held by this run since %s" % holder.get("since")}


def _taken(fd, owner, waited, what):
    """Write the owner into the lock file this call has just locked; the result of acquire() and hold()."""
    holder = holder_info(owner)
    _write_holder(fd, holder)
    return {"acquired": True, "held_by_this_run": False, "waited": round(waited, 1), "holder": holder,
            "msg": what + (" after %d s" % round(waited) if waited >= 1 else "")}


def acquire(path, owner, timeout, check_mode=False, progress=None, progress_every=PROGRESS_EVERY,
            monotonic=time.monotonic, sleep=time.sleep):
    """Take the lock at ``path`` for the process ``owner`` (an ansible-playbook pid) until it exits.

    Returns a dict: ``acquired`` (this call took it), ``held_by_this_run`` (a task of the same run took it
    before), ``waited`` (seconds), ``holder``. Raises RunLockError with the reason and the way out.
    """
    started = _check(path, owner, timeout)
    parent = os.path.dirname(path)
    if check_mode and not os.path.isdir(parent):
        # a workspace that does not exist yet: no run has anything there to collide with, and check mode writes
        # nothing
        return {"acquired": False, "held_by_this_run": False, "waited": 0.0, "holder": {},
                "msg": "no workspace at %s yet: nothing to lock (check mode)" % parent}
    fd, waited, holder = _wait(path, owner, started, timeout, progress, progress_every, monotonic, sleep)
    if fd is None:
        return _held_by_this_run(holder)
    try:
        got = _taken(fd, owner, waited, "taken")
        _hand_to_watcher(fd, owner, started)
    finally:
        os.close(fd)
    return got


@contextlib.contextmanager
def hold(path, owner, timeout, progress=None, progress_every=PROGRESS_EVERY, monotonic=time.monotonic,
         sleep=time.sleep):
    """Hold the lock at ``path`` for the with-block only: one step of a run that does not change hosts (submitting
    a job) waits for a run that does, and such a run waits for that step, not for the whole playbook.

    Yields the same dict as acquire(). When a task of the same run holds the lock already, the block runs at once
    and the lock stays with that run. Otherwise the lock is let go, and the file emptied, when the block ends.
    """
    started = _check(path, owner, timeout)
    fd, waited, holder = _wait(path, owner, started, timeout, progress, progress_every, monotonic, sleep)
    if fd is None:
        yield _held_by_this_run(holder)
        return
    try:
        yield _taken(fd, owner, waited, "held for this step")
    finally:
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)
