# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/backup.yml and restore.yml in check mode (real ansible-playbook runs): they write nothing, and say so
instead of failing on the script's missing output."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(tmp_path, book, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                           os.path.join(ROOT, "tests", "integration", "inventory"),
                           os.path.join(ROOT, "playbooks", book), "--check", *extra], cwd=str(tmp_path), env=env,
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
@pytest.mark.parametrize("book, said", [
    ("backup.yml", "check mode: no archive written"),
    ("restore.yml", "check mode: nothing restored"),
])
def test_check_mode_writes_nothing(tmp_path, book, said, fresh):
    ws = tmp_path / "ws"
    if not fresh:
        (ws / "p" / "state").mkdir(parents=True)
        (ws / "p" / "state" / "cert.json").write_text("{}")
    (tmp_path / "a.vault").write_text("not an archive")
    before = _tree(tmp_path)
    proc = _run(tmp_path, book, "-e", "nvflare_workspace=%s" % ws, "-e", "nvflare_project_name=p", "-e",
                "nvflare_backup_file=%s" % (tmp_path / "a.vault"))
    assert proc.returncode == 0, proc.stdout
    assert said in proc.stdout and "changed=0" in proc.stdout, proc.stdout
    assert _tree(tmp_path) == before
