# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The edgefl.nvflare.kit_pack_argv filter: its command run for real with mktemp and GNU tar."""

from __future__ import annotations

import os
import stat
import subprocess
import tarfile

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.kit_pack_argv import FilterModule

kit_pack_argv = FilterModule().filters()["kit_pack_argv"]


@pytest.fixture
def kit(tmp_path):
    root = tmp_path / "kit"
    for rel, content in {"startup/client.key": "KEY", "startup/client.crt": "CERT",
                         "local/resources.json.default": "{}"}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(0o644)
    return root


def run(argv, tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"))
    os.makedirs(env["TMPDIR"], exist_ok=True)
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False)


def test_packs_only_the_listed_files_into_a_private_file(kit, tmp_path):
    files = ["startup/client.key", "local/resources.json.default"]
    proc = run(kit_pack_argv(files, str(kit), owner="nvflare", group="nvflare"), tmp_path)
    assert proc.returncode == 0, proc.stderr
    path = proc.stdout.strip()
    assert path.startswith(str(tmp_path / "tmp")) and path.endswith(".edgefl-kit.tar")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == files
        assert all(stat.S_IMODE(m.mode) == 0o600 for m in members)
        assert all(m.uname == "nvflare" and m.gname == "nvflare" and m.uid == 0 and m.gid == 0 for m in members)
        assert tar.extractfile("startup/client.key").read() == b"KEY"


def test_without_owner_the_archive_names_none(kit, tmp_path):
    proc = run(kit_pack_argv(["startup/client.crt"], str(kit), suffix=".edgefl-admin.tar"), tmp_path)
    assert proc.returncode == 0, proc.stderr
    path = proc.stdout.strip()
    assert path.endswith(".edgefl-admin.tar")
    with tarfile.open(path) as tar:
        (member,) = tar.getmembers()
        assert member.uid == os.getuid() and stat.S_IMODE(member.mode) == 0o600


def test_a_failing_tar_leaves_no_temporary_file(kit, tmp_path):
    proc = run(kit_pack_argv(["startup/missing.key"], str(kit)), tmp_path)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert os.listdir(tmp_path / "tmp") == []


@pytest.mark.parametrize("files", [[], None, ["/etc/shadow"], ["../outside.key"], ["startup/../../x"], [""]])
def test_bad_file_lists_are_refused(files, kit):
    with pytest.raises(AnsibleFilterError, match="kit_pack_argv"):
        kit_pack_argv(files, str(kit))
