# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.control_path: a path given with -e is read from the directory ansible-playbook runs in, while
Ansible runs control-node modules in the playbook's directory (shown here by a real run)."""

from __future__ import annotations

import sys

import pytest
from ansible_collections.edgefl.nvflare.plugins.filter.control_path import control_path
from conftest import flat, run_playbook


@pytest.mark.parametrize("value, expected", [
    (None, ""),
    ("", ""),
    ("  ", ""),
    ("/srv/backups/a.vault", "/srv/backups/a.vault"),
    ("/srv//backups/./a.vault", "/srv/backups/a.vault"),
    ("jobs/my_job", "/home/me/jobs/my_job"),
    ("./jobs/my_job/", "/home/me/jobs/my_job"),
    ("../b.vault", "/home/b.vault"),
])
def test_relative_paths_join_the_base(value, expected):
    assert control_path(value, base="/home/me") == expected


def test_home_is_expanded(monkeypatch):
    monkeypatch.setenv("HOME", "/home/op")
    assert control_path("~/.edgefl-vault-pass", base="/elsewhere") == "/home/op/.edgefl-vault-pass"


def test_default_base_is_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert control_path("x.vault") == str(tmp_path / "x.vault")


def test_in_a_playbook_it_is_the_directory_ansible_playbook_runs_in(tmp_path):
    book = tmp_path / "books"
    work = tmp_path / "work"
    book.mkdir()
    work.mkdir()
    (book / "play.yml").write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - ansible.builtin.command: pwd\n"
        "      register: module_cwd\n"
        "      changed_when: false\n"
        "    - ansible.builtin.debug:\n"
        "        msg: \"MODULE={{ module_cwd.stdout }} PATH={{ rel | edgefl.nvflare.control_path }}\"\n"
    )
    proc = run_playbook(work, book / "play.yml", "-e", "ansible_python_interpreter=" + sys.executable,
                        "-e", "rel=jobs/my_job", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the module ran in the playbook's directory; the filter read the path from where ansible-playbook runs
    assert "MODULE=%s PATH=%s" % (book, work / "jobs" / "my_job") in flat(proc.stdout), proc.stdout
