# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.control_path: a path given with -e is read from the directory ansible-playbook runs in, while
Ansible runs control-node modules in the playbook's directory (shown here by a real run)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ansible_collections.edgefl.nvflare.plugins.filter.control_path import control_path

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


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
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(book / "play.yml"),
         "-e", "ansible_python_interpreter=" + sys.executable, "-e", "rel=jobs/my_job"],
        cwd=str(work), env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the module ran in the playbook's directory; the filter read the path from where ansible-playbook runs
    flat = " ".join(proc.stdout.split())  # the YAML callback wraps long lines
    assert "MODULE=%s PATH=%s" % (book, work / "jobs" / "my_job") in flat, proc.stdout
