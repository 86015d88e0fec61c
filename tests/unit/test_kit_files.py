# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The edgefl.nvflare.kit_files lookup: the kit listing the roles compare with the installed copy. It replaced an
ansible.builtin.find delegated to localhost per host, so it must list what that find listed, with the same
checksums, and the kit_changes decisions must not change."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import ROOT

from ansible_collections.edgefl.nvflare.plugins.filter.kit_changes import FilterModule
from ansible_collections.edgefl.nvflare.plugins.lookup.kit_files import kit_files
from test_kit_changes import KIT_FILES, find, install_copy, make_tree

kit_changes = FilterModule().filters()["kit_changes"]
TOPS = ["startup", "local", "transfer"]


@pytest.fixture
def kit(tmp_path):
    src = str(tmp_path / "kit")
    make_tree(src, KIT_FILES, mode=0o644)
    # what find (hidden=false, file_type=file, follow=false) leaves out
    make_tree(src, {"startup/.hidden": "x"})
    os.symlink("client.crt", os.path.join(src, "startup", "link.crt"))
    return src


def _by_path(listing):
    return {e["path"]: (e["checksum"], e["mode"]) for e in listing}


def test_lists_what_find_lists(kit):
    ours = kit_files(kit, TOPS)
    theirs = [e for top in TOPS for e in find(os.path.join(kit, top))]
    assert _by_path(ours) == _by_path(theirs)
    assert len(ours) == len(KIT_FILES)
    assert [e["path"] for e in ours] == sorted(e["path"] for e in ours)


def test_same_decisions_as_with_find(kit, tmp_path):
    dest = str(tmp_path / "dest")
    install_copy(kit, dest)
    with open(os.path.join(dest, "startup", "client.crt"), "w") as f:
        f.write("OLD CERT")
    installed = [e for top in TOPS for e in find(os.path.join(dest, top))]
    with_find = kit_changes([e for top in TOPS for e in find(os.path.join(kit, top))], installed, kit, dest,
                            top_dirs=TOPS)
    with_lookup = kit_changes(kit_files(kit, TOPS), installed, kit, dest, top_dirs=TOPS)
    assert with_lookup["files"] == with_find["files"] == ["startup/client.crt"]
    assert with_lookup["dirs"] == with_find["dirs"]


def test_missing_kit_lists_nothing(tmp_path):
    # check mode before the first provisioning: no kit yet
    assert kit_files(str(tmp_path / "nothing"), TOPS) == []


def _ansible_query(expr):
    """The value of a query() in a real ansible run (the collection from this checkout)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    proc = subprocess.run(["ansible", "localhost", "-m", "ansible.builtin.debug", "-a", json.dumps({"var": expr})], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=False)
    res = json.loads(proc.stdout[proc.stdout.index("{"):])["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return res.get(expr, res)


def test_through_ansible(kit):
    assert _ansible_query("query('edgefl.nvflare.kit_files', %r, top_dirs=['startup'])" % kit) == kit_files(
        kit, ["startup"])
    bad = _ansible_query("query('edgefl.nvflare.kit_files', %r, %r)" % (kit, kit))
    assert "exactly one kit directory" in json.dumps(bad), bad
