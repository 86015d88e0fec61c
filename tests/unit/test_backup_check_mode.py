# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/backup.yml and restore.yml in check mode (real ansible-playbook runs): they write nothing. backup.yml
says so; restore.yml decrypts and compares a real archive and says what a run would do."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(tmp_path, book, *extra, check=True, env=None):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", **(env or {}))
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                           os.path.join(ROOT, "tests", "integration", "inventory"),
                           os.path.join(ROOT, "playbooks", book), *(["--check"] if check else []), *extra], cwd=str(tmp_path), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)


def _tree(path):
    """Every file with its mtime, and every directory, but the run lock (check mode takes it on a workspace that
    exists, docs/playbooks.md "One run at a time"; its directory's mtime changes with it)."""
    rows = []
    for d, dirs, files in os.walk(str(path)):
        rows += [(os.path.relpath(os.path.join(d, n), str(path)), "dir") for n in dirs]
        rows += [(os.path.relpath(os.path.join(d, n), str(path)), os.stat(os.path.join(d, n)).st_mtime_ns)
                 for n in files if not n.startswith(".edgefl-run-")]
    return sorted(rows, key=str)


@pytest.mark.parametrize("fresh", [True, False])
def test_backup_check_mode_writes_nothing(tmp_path, fresh):
    ws = tmp_path / "ws"
    if not fresh:
        (ws / "p" / "state").mkdir(parents=True)
        (ws / "p" / "state" / "cert.json").write_text("{}")
    before = _tree(tmp_path)
    proc = _run(tmp_path, "backup.yml", "-e", "nvflare_workspace=%s" % ws, "-e", "nvflare_project_name=p", "-e",
                "nvflare_backup_file=%s" % (tmp_path / "a.vault"))
    assert proc.returncode == 0, proc.stdout
    flat = " ".join(proc.stdout.split())
    assert "check mode: no archive written" in flat, proc.stdout
    # a real run always writes a new archive, so check mode reports a change where there is a workspace to back up
    if fresh:
        assert "there is no provisioning workspace at %s/p (no state/cert.json)" % ws in flat and "changed=0" in flat
    else:
        assert "would write an encrypted archive of %s/p" % ws in flat and "changed=1" in flat, proc.stdout
    assert _tree(tmp_path) == before


def _archive(tmp_path, project, files):
    """An archive as backup.yml writes it: a gzip tar of <project>/..., encrypted by ansible-vault."""
    src = tmp_path / "src"
    for name, text in files.items():
        (src / project / name).parent.mkdir(parents=True, exist_ok=True)
        (src / project / name).write_text(text)
    with tarfile.open(str(tmp_path / "a.tgz"), "w:gz") as tar:
        tar.add(str(src / project), arcname=project)
    (tmp_path / "pass").write_text("s3cret\n")
    vault = os.path.join(os.path.dirname(sys.executable), "ansible-vault")
    subprocess.run([vault, "encrypt", "--vault-password-file", str(tmp_path / "pass"), "--output",
                    str(tmp_path / "a.vault"), str(tmp_path / "a.tgz")], check=True, capture_output=True)
    os.unlink(str(tmp_path / "a.tgz"))
    return str(tmp_path / "a.vault")


RESTORED = {"state/cert.json": "{}", "kits/site-1/startup/client.key": "key"}


@pytest.mark.parametrize("case, current, extra, rc, said, changed", [
    ("no workspace", None, (), 0, "would restore {ws}/p from {archive}", 1),
    ("empty project", {}, (), 0, "would restore {ws}/p from {archive}", 1),
    ("same content", RESTORED, (), 0, "unchanged: {ws}/p already holds the content of {archive}", 0),
    ("other content", {"state/cert.json": "{\"other\": 1}"}, (), 2, "restore refuses to overwrite it", 0),
    ("other content, forced", {"state/cert.json": "{\"other\": 1}"}, ("-e", "nvflare_restore_force=true"), 0,
     "would restore {ws}/p from {archive}; the workspace it replaces would be kept at {ws}/p.replaced-", 1),
    ("another project", None, ("-e", "nvflare_project_name=q"), 2, "holds no provisioning workspace of project q", 0),
    # the same refusal from the decrypted copy (a workspace directory exists to compare with)
    ("another project, workspace there", {}, ("-e", "nvflare_project_name=q"), 2,
     "a.vault holds no provisioning workspace of project q (it has: p)", 0),
    ("wrong password", None, ("--vault-password-file", "wrong"), 2, "Decryption failed", 0),
])
def test_restore_check_mode_says_what_a_run_would_do(tmp_path, case, current, extra, rc, said, changed):
    archive = _archive(tmp_path, "p", RESTORED)
    (tmp_path / "wrong").write_text("not it\n")
    ws = tmp_path / "ws"
    if current is not None:
        (ws / "p").mkdir(parents=True)
        for name, text in current.items():
            (ws / "p" / name).parent.mkdir(parents=True, exist_ok=True)
            (ws / "p" / name).write_text(text)
    before = _tree(tmp_path)
    password = [] if "--vault-password-file" in extra else ["--vault-password-file", "pass"]
    proc = _run(tmp_path, "restore.yml", "-e", "nvflare_workspace=%s" % ws, "-e", "nvflare_project_name=p",
                "-e", "nvflare_backup_file=a.vault", *password, *extra)
    flat = " ".join(proc.stdout.split())
    assert (proc.returncode == 0) == (rc == 0), (case, proc.stdout)
    assert said.format(ws=ws, archive=archive) in flat, (case, proc.stdout)
    if rc == 0:
        assert "changed=%d" % changed in proc.stdout, (case, proc.stdout)
    # nothing written: no workspace, no decrypted copy, the current project as it was
    assert _tree(tmp_path) == before, case
    assert not [n for n in os.listdir(str(tmp_path)) + (os.listdir(str(ws)) if ws.is_dir() else [])
                if n.startswith(".edgefl-restore")], case


@pytest.mark.parametrize("configured", [True, False])
def test_restore_takes_the_vault_password_ansible_is_configured_with(tmp_path, configured):
    """No password option: Ansible's own configured vault password file (ANSIBLE_VAULT_PASSWORD_FILE, as from
    ansible.cfg) is used, read by ansible-vault itself; without one the run stops with what to give."""
    archive = _archive(tmp_path, "p", RESTORED)
    proc = _run(tmp_path, "restore.yml", "-e", "nvflare_workspace=%s" % (tmp_path / "ws"), "-e",
                "nvflare_project_name=p", "-e", "nvflare_backup_file=a.vault",
                env={"ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "pass")} if configured else None)
    flat = " ".join(proc.stdout.split())
    if configured:
        assert proc.returncode == 0 and "would restore %s/p from %s" % (tmp_path / "ws", archive) in flat, proc.stdout
    else:
        assert proc.returncode != 0 and "no vault password: give -e nvflare_backup_vault_password_file" in flat, \
            proc.stdout


@pytest.mark.parametrize("book", ["backup.yml", "restore.yml"])
def test_a_held_provisioning_lock_stops_the_run_and_stays_the_holders(tmp_path, book):
    """A real run (not check mode) while another process holds the provisioning workspace lock: it waits
    nvflare_provision_lock_timeout seconds, fails naming the holder, and leaves the holder's lock file as it was (the
    script's exit trap empties only a lock it took)."""
    import fcntl

    archive = _archive(tmp_path, "p", RESTORED)
    state = tmp_path / "ws" / "p" / "state"
    state.mkdir(parents=True)
    (state / "cert.json").write_text('{"other": 1}')
    lock = state / "edgefl_provision.lock"
    holder = '{"pid": 1, "host": "elsewhere", "user": "op", "started": "2026-12-05T00:00:00Z", "play": "site.yml"}'
    with open(str(lock), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        lock.write_text(holder)
        proc = _run(tmp_path, book, "-e", "nvflare_workspace=%s" % (tmp_path / "ws"), "-e", "nvflare_project_name=p",
                    "-e", "nvflare_backup_file=%s" % archive, "-e", "nvflare_restore_force=true",
                    "-e", "nvflare_provision_lock_timeout=1", "--vault-password-file", "pass", check=False)
    flat = " ".join(proc.stdout.split())
    assert proc.returncode != 0, proc.stdout
    assert "the provisioning workspace is locked by another run: %s; waited 1 s" % holder in flat, proc.stdout
    assert lock.read_text() == holder
    assert (state / "cert.json").read_text() == '{"other": 1}'  # nothing restored over it
    assert os.path.getsize(archive) > 0 and not [n for n in os.listdir(str(tmp_path / "ws")) if n != "p"
                                                 and not n.startswith(".edgefl-run-")]


def test_the_shared_script_passes_shellcheck():
    import shutil

    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck not installed")
    subprocess.run(["shellcheck", "-s", "bash", os.path.join(ROOT, "playbooks", "files", "vault_workspace.sh")],
                   check=True)
