# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.kit_push: the action plugin's archive (plugins/action/kit_push.py) unpacked by the real module
(plugins/modules/kit_push.py) into a temporary directory, as one task does it on a host."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.edgefl.nvflare.plugins.action import kit_push as action
from ansible_collections.edgefl.nvflare.plugins.modules import kit_push as module

FILES = {"startup/client.key": "KEY", "startup/client.crt": "CRT", "local/resources.json.default": "{}"}


@pytest.fixture
def kit(tmp_path):
    src = tmp_path / "src"
    for rel, text in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
        os.chmod(src / rel, 0o644)
    dest = tmp_path / "dest"
    for d in ("startup", "local"):
        (dest / d).mkdir(parents=True)
    return src, dest


def archive(tmp_path, src, files):
    path = tmp_path / "kit.tar"
    with open(path, "wb") as out:
        action.pack(files, str(src), out)
    return str(path)


@pytest.fixture
def push(run_module):
    def _push(dest, files, tar, check=False, **kw):
        args = dict({"src": "/control/kit", "files": files, "dest": str(dest), "archive": tar}, **kw)
        return run_module(module.main, args, check_mode=check)

    return _push


def test_installs_every_file_0600_with_the_owner(tmp_path, kit, push):
    src, dest = kit
    files = sorted(FILES)
    out = push(dest, files, archive(tmp_path, src, files), owner=str(os.getuid()), group=str(os.getgid()))
    assert out["changed"] and sorted(out["files"]) == files
    for rel, text in FILES.items():
        st = os.stat(dest / rel)
        assert (dest / rel).read_text() == text and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
    assert sorted(p.name for p in (dest / "startup").iterdir()) == ["client.crt", "client.key"]  # no temporary file


def test_the_archive_holds_only_the_files_with_mode_0600(tmp_path, kit):
    src = kit[0]
    with tarfile.open(archive(tmp_path, src, ["startup/client.key"])) as tar:
        members = tar.getmembers()
    assert [(m.name, m.isreg(), m.mode, m.uname) for m in members] == [("startup/client.key", True, 0o600, "")]


def test_check_mode_writes_nothing(kit, push):
    dest = kit[1]
    out = push(dest, ["startup/client.key"], None, check=True)
    assert out["changed"] and out["files"] == ["startup/client.key"]
    assert not (dest / "startup" / "client.key").exists()


def test_a_member_leaving_the_kit_is_refused_before_any_write(tmp_path, kit, push):
    dest = kit[1]
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        for name in ("startup/client.key", "../escape"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    out = push(dest, ["startup/client.key", "../escape"], str(bad))
    assert out["failed"] and "../escape is not a path inside the kit" in out["msg"]
    assert not (dest / "startup" / "client.key").exists() and not (tmp_path / "escape").exists()


def test_a_missing_directory_is_named_before_any_write(tmp_path, kit, push):
    src, dest = kit
    (dest / "local").rmdir()
    files = sorted(FILES)
    out = push(dest, files, archive(tmp_path, src, files))
    assert out["failed"] and "its directory does not exist" in out["msg"]
    assert not (dest / "startup" / "client.key").exists()


def test_an_unknown_owner_fails_cleanly(tmp_path, kit, push):
    src, dest = kit
    out = push(dest, ["startup/client.key"], archive(tmp_path, src, ["startup/client.key"]), owner="edgefl-nobody-x")
    assert out["failed"] and "owner 'edgefl-nobody-x' does not exist" in out["msg"]


def test_the_module_alone_needs_the_action_plugin(kit, push):
    dest = kit[1]
    out = push(dest, ["startup/client.key"], None)
    assert out["failed"] and "runs through its action plugin" in out["msg"]


@pytest.mark.parametrize("files", [["../x"], ["/etc/passwd"], ["startup/../../x"], [""], "startup/client.key"])
def test_the_file_list_must_stay_inside_the_kit(files):
    with pytest.raises(AnsibleActionFail):
        action.check_files(files, "/control/kit")


def test_pack_refuses_a_link_or_a_missing_file(tmp_path, kit):
    src = kit[0]
    (src / "startup" / "link").symlink_to(src / "startup" / "client.key")
    for rel in ("startup/link", "startup/missing"):
        with pytest.raises(AnsibleActionFail, match="not a regular file on the control node"):
            archive(tmp_path, src, [rel])
