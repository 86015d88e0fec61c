# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The stat_probe and kit_dirs_todo filters, fed with the output of the real `stat --format` command
that the nvflare_common role runs (roles/nvflare_common/tasks/kit_probe.yml)."""

from __future__ import annotations

import grp
import os
import pwd
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.kit_dirs_todo import FilterModule as DirsModule
from ansible_collections.edgefl.nvflare.plugins.filter.stat_probe import FilterModule as ProbeModule

stat_probe = ProbeModule().filters()["stat_probe"]
kit_dirs_todo = DirsModule().filters()["kit_dirs_todo"]

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def probe(*paths):
    """The stdout_lines of the role's probe command (missing paths only go to stderr, rc 1)."""
    proc = subprocess.run(["stat", "--format=%n %a %U %G", "--"] + list(paths), capture_output=True, text=True, check=False)
    return proc.stdout.splitlines()


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "var lib" / "nvflare"  # a space in the path, as an operator might choose
    site = root / "site-1"
    for d in ["startup", "local", "transfer"]:
        (site / d).mkdir(parents=True)
    for d in [site, site / "startup", site / "local", site / "transfer"]:
        os.chmod(d, 0o700)
    os.chmod(site / "transfer", 0o755)
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    os.chmod(python, 0o755)
    return {"root": str(root), "site": str(site), "python": str(python), "storage": str(root / "storage")}


def test_probe_maps_existing_paths_only(ws):
    lines = probe(ws["python"], ws["site"], ws["storage"], ws["site"] + "/startup", ws["site"] + "/transfer")
    out = stat_probe(lines)
    assert set(out) == {ws["python"], ws["site"], ws["site"] + "/startup", ws["site"] + "/transfer"}
    assert out[ws["python"]] == {"mode": "755", "owner": ME, "group": MY_GROUP}
    assert out[ws["site"]] == {"mode": "700", "owner": ME, "group": MY_GROUP}
    assert out[ws["site"] + "/transfer"]["mode"] == "755"


def test_probe_accepts_text_none_and_special_bits(tmp_path):
    d = tmp_path / "sgid"
    d.mkdir()
    os.chmod(d, 0o2750)
    text = "\n".join(probe(str(d)))
    assert stat_probe(text)[str(d)]["mode"] == "2750"
    assert stat_probe(None) == {}
    assert stat_probe([]) == {}


@pytest.mark.parametrize("bad", ["stat: cannot statx '/x': No such file or directory", "/a 7x0 root root"])
def test_probe_refuses_lines_that_are_not_the_format(bad):
    with pytest.raises(AnsibleFilterError, match="is not a line of stat"):
        stat_probe([bad])


def test_probe_refuses_other_input():
    with pytest.raises(AnsibleFilterError, match="stdout_lines"):
        stat_probe({"stdout_lines": []})


def test_dirs_todo_on_a_fresh_host_is_every_directory(tmp_path):
    dirs = [str(tmp_path / "ws"), str(tmp_path / "storage"), str(tmp_path / "ws/startup")]
    assert kit_dirs_todo(stat_probe(probe(*dirs)), dirs, owner="nvflare", group="nvflare") == dirs


def test_dirs_todo_returns_wrong_mode_and_missing(ws):
    dirs = [ws["site"], ws["storage"], ws["site"] + "/local", ws["site"] + "/startup", ws["site"] + "/transfer"]
    found = stat_probe(probe(ws["python"], *dirs))
    assert kit_dirs_todo(found, dirs) == [ws["storage"], ws["site"] + "/transfer"]
    assert kit_dirs_todo(found, dirs, owner=ME, group=MY_GROUP) == [ws["storage"], ws["site"] + "/transfer"]
    # the leading zero of an octal mode does not matter
    assert kit_dirs_todo(found, dirs, mode="0700") == [ws["storage"], ws["site"] + "/transfer"]


def test_dirs_todo_compares_owner_and_group_only_when_given(ws):
    dirs = [ws["site"], ws["site"] + "/startup"]
    found = stat_probe(probe(*dirs))
    assert kit_dirs_todo(found, dirs) == []
    assert kit_dirs_todo(found, dirs, owner="nvflare-nobody") == dirs
    assert kit_dirs_todo(found, dirs, group="nvflare-nogroup") == dirs


def test_dirs_todo_fixed_by_install_d_is_empty(ws):
    # what the role runs when the list is not empty: `install -d -m 0700 -- DIR...`
    dirs = [ws["site"], ws["storage"], ws["site"] + "/transfer"]
    todo = kit_dirs_todo(stat_probe(probe(*dirs)), dirs)
    subprocess.run(["install", "-d", "-m", "0700", "--"] + todo, check=True)
    assert kit_dirs_todo(stat_probe(probe(*dirs)), dirs, owner=ME, group=MY_GROUP) == []


def test_dirs_todo_keeps_order_without_duplicates(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert kit_dirs_todo({}, [b, a, b]) == [b, a]


@pytest.mark.parametrize("probe_in, dirs, mode, match", [
    ([], ["/x"], "700", "result of edgefl.nvflare.stat_probe"),
    ({}, "/x", "700", "list of absolute paths"),
    ({}, ["x"], "700", "not an absolute path"),
    ({}, ["/x"], "rwx", "octal digits"),
])
def test_dirs_todo_refuses_bad_input(probe_in, dirs, mode, match):
    with pytest.raises(AnsibleFilterError, match=match):
        kit_dirs_todo(probe_in, dirs, mode=mode)
