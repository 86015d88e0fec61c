# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.files (plugins/modules/files.py, module_utils/_files.py): several small files in one module run,
on real files in a temporary directory, through the module's own run() with a real AnsibleModule."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.edgefl.nvflare.plugins.module_utils import _files
from ansible_collections.edgefl.nvflare.plugins.modules import files as files_module

UID, GID = os.getuid(), os.getgid()


@pytest.fixture
def run(run_module):
    return lambda entries, check=False, diff=False: run_module(files_module.main, {"files": entries}, check, diff)


def entry(path, content="a\n", mode="0640", **kw):
    return dict({"path": str(path), "content": content, "owner": str(UID), "group": str(GID), "mode": mode}, **kw)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_new_files_then_changes_nothing(tmp_path, run):
    a, b = tmp_path / "a.json", tmp_path / "b.service"
    entries = [entry(a, "{}\n", "0600"), entry(b, "[Unit]\n", "0644")]
    first = run(entries)
    assert first["changed"] and first["changed_paths"] == [str(a), str(b)]
    assert a.read_text() == "{}\n" and mode_of(a) == 0o600
    assert b.read_text() == "[Unit]\n" and mode_of(b) == 0o644
    again = run(entries)
    assert not again["changed"] and again["changed_paths"] == []


def test_only_what_differs_changes(tmp_path, run):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("same\n")
    os.chmod(a, 0o600)
    b.write_text("old\n")
    os.chmod(b, 0o644)
    ino = os.stat(a).st_ino
    out = run([entry(a, "same\n", "0644"), entry(b, "new\n", "0644")], diff=True)
    assert out["reasons"] == {str(a): ["mode"], str(b): ["content"]}
    assert mode_of(a) == 0o644 and os.stat(a).st_ino == ino  # a chmod in place, not a rewrite
    assert b.read_text() == "new\n"
    assert out["diff"] == [{"before": "old\n", "after": "new\n", "before_header": str(b), "after_header": str(b)}]


def test_a_marker_is_written_before_a_change_and_only_then(tmp_path, run_module):
    """The caller's trace of a change it must still act on (the service's restart): written before the first file
    changes, never in check mode or when nothing changes."""
    import json

    a, marker = tmp_path / "a.json", tmp_path / "restart-pending"
    args = {"files": [entry(a, "{}\n", "0600")], "marker": str(marker)}
    run_module(files_module.main, args, True, False)
    assert not marker.exists() and not a.exists()
    assert run_module(files_module.main, args, False, False)["changed"]
    assert json.loads(marker.read_text()) == [str(a)] and mode_of(marker) == 0o600
    marker.unlink()
    assert not run_module(files_module.main, args, False, False)["changed"] and not marker.exists()


def test_secret_content_is_written_but_never_returned(tmp_path, run_module):
    """secret_content (the unit's environment file): written like content, but masked in the result (no_log), and
    its diff, old and new, is a placeholder; the old text of the file never reaches the result."""
    import json

    env, marker = tmp_path / "nvflare-client", tmp_path / "restart-pending"
    secret, old_secret = "HF_TOKEN='s3cr3t-new'\n", "HF_TOKEN='s3cr3t-old'\n"
    env.write_text(old_secret)
    os.chmod(env, 0o600)
    args = {"files": [dict(entry(env, None, "0600"), content=None, secret_content=secret)], "marker": str(marker)}
    for check in (True, False):
        out = run_module(files_module.main, args, check, True)
        assert out["changed"] and out["reasons"] == {str(env): ["content"]}
        text = json.dumps(out)
        assert "s3cr3t" not in text, text
        assert out["diff"] == [{"before": "(secret content)\n", "after": "(secret content, changed)\n",
                                "before_header": str(env), "after_header": str(env)}]
    assert env.read_text() == secret and mode_of(env) == 0o600
    assert json.loads(marker.read_text()) == [str(env)]
    again = run_module(files_module.main, args, False, True)
    assert not again["changed"] and "diff" not in again and "s3cr3t" not in json.dumps(again)
    # state=absent with a secret_content given (the role's entry when no environment is set) removes the file
    gone = run_module(files_module.main, {"files": [dict(args["files"][0], state="absent")]}, False, False)
    assert gone["changed"] and not env.exists()


def test_secret_content_never_reaches_the_hosts_journal(tmp_path, run_module, monkeypatch):
    """Ansible writes every module's "Invoked with" line to the host's journal (or syslog). It masks no_log values by
    searching each option's text, and turns a list option into text with its newlines as \\n escapes: a unit
    environment of several lines no longer matched and its tokens reached the journal of every host."""
    from ansible.module_utils import basic

    logged = []
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append((msg, log_args)))
    env = tmp_path / "nvflare-client"
    secret = "#\n# Ansible managed\nHF_TOKEN='s3cr3t-journal'\nWANDB_API_KEY='k3y-journal'\n"
    args = {"files": [dict(entry(env, None, "0600"), content=None, secret_content=secret),
                      entry(tmp_path / "unit", "[Service]\nExecStart=/bin/true\n", "0644")]}
    out = run_module(files_module.main, args)
    assert out["changed"] and env.read_text() == secret
    assert logged and logged[0][0].startswith("Invoked with files="), logged
    said = repr(logged)
    assert "s3cr3t-journal" not in said and "k3y-journal" not in said, said
    assert "ExecStart=/bin/true" in said       # the rest of the invocation is still logged


def test_content_and_secret_content_together_are_refused(tmp_path, run):
    out = run([entry(tmp_path / "a", "x\n", secret_content="y\n")])
    assert out.get("failed") and "content or secret_content, not both" in out["msg"]
    assert not (tmp_path / "a").exists()


def test_check_mode_reports_and_writes_nothing(tmp_path, run):
    a, gone = tmp_path / "a", tmp_path / "gone"
    gone.write_text("x")
    out = run([entry(a), {"path": str(gone), "state": "absent"}, entry(tmp_path / "no-dir" / "c")], check=True)
    assert out["changed"] and out["changed_paths"] == [str(a), str(gone), str(tmp_path / "no-dir" / "c")]
    assert not a.exists() and gone.exists()


def test_check_mode_on_a_fresh_host_accepts_a_user_not_made_yet(tmp_path, run):
    out = run([entry(tmp_path / "a", owner="edgefl-no-such-user")], check=True)
    assert out["changed"] and out["reasons"][str(tmp_path / "a")] == ["content", "owner"]


def test_absent_removes_and_is_idempotent(tmp_path, run):
    gone = tmp_path / "gone"
    gone.write_text("x")
    assert run([{"path": str(gone), "state": "absent"}])["changed"]
    assert not gone.exists()
    assert not run([{"path": str(gone), "state": "absent"}])["changed"]


@pytest.mark.parametrize("bad, words", [
    ({"owner": "edgefl-no-such-user"}, "owner 'edgefl-no-such-user' does not exist"),
    ({"mode": "0o644"}, "is not an octal number"),
    ({"mode": "17777"}, "more than 07777"),
    ({"content": None}, "give content"),
])
def test_bad_entry_fails_before_anything_is_written(tmp_path, run, bad, words):
    first = tmp_path / "first"
    out = run([entry(first), dict(entry(tmp_path / "second"), **bad)])
    assert out["failed"] and words in out["msg"] and out["field"] == "files"
    assert not first.exists()


def test_a_link_or_a_directory_is_refused(tmp_path, run):
    target = tmp_path / "target"
    target.write_text("t\n")
    link = tmp_path / "link"
    link.symlink_to(target)
    out = run([entry(link)])
    assert out["failed"] and "not a regular file" in out["msg"] and target.read_text() == "t\n"
    out = run([entry(tmp_path)])
    assert out["failed"] and "is a directory" in out["msg"]


def test_missing_directory_is_named(tmp_path, run):
    out = run([entry(tmp_path / "no-dir" / "c")])
    assert out["failed"] and "its directory %s does not exist" % (tmp_path / "no-dir") in out["msg"]


def test_atomic_write_sets_owner_and_mode_before_the_rename(tmp_path):
    path = tmp_path / "f"
    _files.atomic_write(str(path), b"data", mode=0o640, uid=UID, gid=GID)
    st = os.stat(path)
    assert path.read_bytes() == b"data" and stat.S_IMODE(st.st_mode) == 0o640 and st.st_uid == UID
    assert [p.name for p in tmp_path.iterdir()] == ["f"]  # no temporary file left


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_owner_change_alone_is_a_chown(tmp_path, run):
    a = tmp_path / "a"
    a.write_text("a\n")
    os.chmod(a, 0o640)
    os.chown(a, 1, 1)
    out = run([entry(a)])
    assert out["reasons"] == {str(a): ["owner", "group"]}
    assert os.stat(a).st_uid == UID and os.stat(a).st_gid == GID and a.read_text() == "a\n"
