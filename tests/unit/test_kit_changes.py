# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The edgefl.nvflare.kit_changes filter, fed with real ansible.builtin.find listings of a real kit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.kit_changes import FilterModule


kit_changes = FilterModule().filters()["kit_changes"]


KIT_FILES = {
    "startup/client.crt": "CERT",
    "startup/client.key": "KEY",
    "startup/rootCA.pem": "CA",
    "startup/fed_client.json": "{}",
    "local/resources.json.default": "{}",
    "local/custom/extra/a.json": "{}",
}


def make_tree(root, files, mode=0o600):
    for rel, content in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(content)
        os.chmod(path, mode)


def find(root):
    """The files of a real ansible.builtin.find listing (get_checksum) of root, [] when it is missing."""
    if not os.path.isdir(root):
        return []
    args = '{"paths": ["%s"], "recurse": true, "get_checksum": true, "file_type": "file"}' % root
    proc = subprocess.run([sys.executable, "-m", "ansible.modules.find"], input='{"ANSIBLE_MODULE_ARGS": %s}' % args,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)["files"]


def install_copy(kit, dest):
    """An installed copy of the kit as the roles leave it: same content, every file 0600."""
    shutil.copytree(kit, dest)
    for dirpath, _dirs, names in os.walk(dest):
        for name in names:
            os.chmod(os.path.join(dirpath, name), 0o600)


@pytest.fixture
def kit(tmp_path):
    src = str(tmp_path / "kit")
    make_tree(src, KIT_FILES, mode=0o644)
    return src


def test_nothing_installed_installs_every_file_and_directory(kit, tmp_path):
    dest = str(tmp_path / "opt" / "site-1")
    out = kit_changes(find(kit), find(dest), kit, dest, top_dirs=["startup", "local", "transfer"])
    assert sorted(out["files"]) == sorted(KIT_FILES)
    assert sorted(out["all"]) == sorted(KIT_FILES)
    assert out["dirs"] == [dest + "/" + d for d in
                           ["local", "local/custom", "local/custom/extra", "startup", "transfer"]]


def test_identical_copy_needs_nothing(kit, tmp_path):
    dest = str(tmp_path / "dest")
    install_copy(kit, dest)
    assert kit_changes(find(kit), find(dest), kit, dest)["files"] == []


def test_changed_missing_and_wrong_mode_files_are_returned(kit, tmp_path):
    dest = str(tmp_path / "dest")
    install_copy(kit, dest)
    with open(os.path.join(dest, "startup/client.crt"), "w") as f:
        f.write("OTHER CERT")
    os.remove(os.path.join(dest, "startup/rootCA.pem"))
    os.chmod(os.path.join(dest, "startup/client.key"), 0o644)
    out = kit_changes(find(kit), find(dest), kit, dest)
    assert sorted(out["files"]) == ["startup/client.crt", "startup/client.key", "startup/rootCA.pem"]


def test_owner_and_group_are_compared_only_when_given(kit, tmp_path):
    dest = str(tmp_path / "dest")
    install_copy(kit, dest)
    src, installed = find(kit), find(dest)
    me = installed[0]["pw_name"]
    assert kit_changes(src, installed, kit, dest, owner=me, group=installed[0]["gr_name"])["files"] == []
    assert sorted(kit_changes(src, installed, kit, dest, owner="nvflare-nobody")["files"]) == sorted(KIT_FILES)
    assert sorted(kit_changes(src, installed, kit, dest, group="nvflare-nogroup")["files"]) == sorted(KIT_FILES)


def test_excluded_files_are_never_returned_but_listed(kit, tmp_path):
    dest = str(tmp_path / "none")
    out = kit_changes(find(kit), [], kit, dest, exclude=["startup/fed_client.json"])
    assert "startup/fed_client.json" not in out["files"]
    assert "startup/fed_client.json" in out["all"]
    assert len(out["files"]) == len(KIT_FILES) - 1


def test_trailing_slashes_do_not_matter(kit, tmp_path):
    dest = str(tmp_path / "dest")
    out = kit_changes(find(kit), [], kit + "/", dest + "/", top_dirs=["startup"])
    assert sorted(out["files"]) == sorted(KIT_FILES)
    assert dest + "/startup" in out["dirs"]


def test_listing_without_checksums_is_refused(kit, tmp_path):
    listing = [{k: v for k, v in f.items() if k != "checksum"} for f in find(kit)]
    with pytest.raises(AnsibleFilterError, match="get_checksum=true"):
        kit_changes(listing, [], kit, str(tmp_path))


def test_listing_of_another_directory_is_refused(kit, tmp_path):
    with pytest.raises(AnsibleFilterError, match="not under the kit directory"):
        kit_changes(find(kit), [], str(tmp_path / "elsewhere"), str(tmp_path))


@pytest.mark.parametrize("bad", [{"files": []}, "startup/client.crt", [{"checksum": "x"}]])
def test_input_that_is_not_a_find_listing_is_refused(bad, tmp_path):
    with pytest.raises(AnsibleFilterError, match="ansible.builtin.find"):
        kit_changes(bad, [], str(tmp_path), str(tmp_path))


def test_top_dirs_are_returned_absolute_once_in_the_order_given(kit, tmp_path):
    dest = str(tmp_path / "dest")
    out = kit_changes(find(kit), [], kit, dest + "//", top_dirs=["transfer/", "startup", "transfer", "local"])
    assert out["top"] == [dest + "/transfer", dest + "/startup", dest + "/local"]
    assert set(out["top"]) <= set(out["dirs"])
    assert kit_changes(find(kit), [], kit, dest)["top"] == []
