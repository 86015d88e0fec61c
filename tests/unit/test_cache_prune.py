# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.cache_prune on a cache laid out as the nvflare_venv role and build-wheelhouse.sh write it, and
playbooks/prune_cache.yml (a real ansible-playbook run): what goes, what stays, a wheelhouse whose build holds its
lock, check mode, a second run."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.edgefl.nvflare.plugins.modules import cache_prune

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _write(path, size=10):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x" * size)


def _wheelhouse(cache, platform, name):
    _write(os.path.join(cache, platform, name, "nvflare-0-py3-none-any.whl"), 100)
    _write(os.path.join(cache, platform, name + ".tar"), 120)
    _write(os.path.join(cache, platform, name + ".lock"), 0)


@pytest.fixture
def cache(tmp_path):
    root = str(tmp_path / "wheelhouse")
    _wheelhouse(root, "x86_64-py311", "nvflare-2.9.0-5d35b1260e")
    _wheelhouse(root, "x86_64-py311", "nvflare-2.8.3-8cf5c296da")
    _wheelhouse(root, "aarch64-py36", "nvflare-2.4.2-0123456789")
    _write(os.path.join(root, "x86_64-py311", "venv-2.9.0-5ae45487c56f.tar.gz"), 1000)
    _write(os.path.join(root, "x86_64-py311", "venv-2.8.3-111111111111.tar.gz"), 1000)
    _write(os.path.join(root, "x86_64-py311", "venv-5ae45487c56f.tar.gz"), 1000)  # named before the version was
    # a fetch killed two days ago, and one running now
    old_part = os.path.join(root, "x86_64-py311", "venv-2.9.0-222222222222.tar.gz.part-golden-1-2.tar.gz")
    _write(old_part, 50)
    os.utime(old_part, (time.time() - 2 * 86400,) * 2)
    _write(os.path.join(root, "x86_64-py311", "venv-2.9.0-333333333333.tar.gz.part-golden-3-4.tar.gz"), 50)
    # not the collection's: never touched
    _write(os.path.join(root, "x86_64-py311", "notes.txt"))
    _write(os.path.join(root, "x86_64-py311", "nvflare-2.8.3.whl"))
    _write(os.path.join(root, "README"))
    _wheelhouse(root, "not a platform", "nvflare-2.8.3-8cf5c296da")
    return root


def _listing(root):
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, dirs, files in os.walk(root) for n in dirs + files)


def test_removes_other_versions_and_leftovers_only(cache, run_module):
    result = run_module(cache_prune.main, {"path": cache, "keep_versions": ["2.9.0"]})
    assert result["changed"] and not result.get("failed"), result
    assert sorted(e["name"] for e in result["removed"]) == [
        "aarch64-py36/nvflare-2.4.2-0123456789",
        "x86_64-py311/nvflare-2.8.3-8cf5c296da",
        "x86_64-py311/venv-2.8.3-111111111111.tar.gz",
        "x86_64-py311/venv-2.9.0-222222222222.tar.gz.part-golden-1-2.tar.gz",
        "x86_64-py311/venv-5ae45487c56f.tar.gz",
    ]
    assert result["freed_bytes"] == 2 * 220 + 1000 + 1000 + 50
    assert sorted(result["kept"]) == [
        "x86_64-py311/nvflare-2.9.0-5d35b1260e",
        "x86_64-py311/venv-2.9.0-333333333333.tar.gz.part-golden-3-4.tar.gz",
        "x86_64-py311/venv-2.9.0-5ae45487c56f.tar.gz",
    ]
    assert _listing(cache) == sorted([
        "README", "aarch64-py36", "not a platform", "not a platform/nvflare-2.8.3-8cf5c296da",
        "not a platform/nvflare-2.8.3-8cf5c296da.lock", "not a platform/nvflare-2.8.3-8cf5c296da.tar",
        "not a platform/nvflare-2.8.3-8cf5c296da/nvflare-0-py3-none-any.whl", "x86_64-py311",
        "x86_64-py311/notes.txt", "x86_64-py311/nvflare-2.8.3.whl",
        "x86_64-py311/nvflare-2.9.0-5d35b1260e", "x86_64-py311/nvflare-2.9.0-5d35b1260e.lock",
        "x86_64-py311/nvflare-2.9.0-5d35b1260e.tar", "x86_64-py311/nvflare-2.9.0-5d35b1260e/nvflare-0-py3-none-any.whl",
        "x86_64-py311/venv-2.9.0-333333333333.tar.gz.part-golden-3-4.tar.gz",
        "x86_64-py311/venv-2.9.0-5ae45487c56f.tar.gz",
    ])
    again = run_module(cache_prune.main, {"path": cache, "keep_versions": ["2.9.0"]})
    assert not again["changed"] and again["removed"] == [], again


def test_check_mode_lists_the_same_and_removes_nothing(cache, run_module):
    before = _listing(cache)
    checked = run_module(cache_prune.main, {"path": cache, "keep_versions": ["2.9.0", "2.4.2"]}, check_mode=True)
    assert _listing(cache) == before
    done = run_module(cache_prune.main, {"path": cache, "keep_versions": ["2.9.0", "2.4.2"]})
    assert checked["changed"] and checked["removed"] == done["removed"], (checked, done)
    assert "aarch64-py36/nvflare-2.4.2-0123456789" in done["kept"]


def test_a_wheelhouse_whose_build_holds_its_lock_is_left(cache, run_module):
    lock = os.path.join(cache, "x86_64-py311", "nvflare-2.8.3-8cf5c296da.lock")
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # what build-wheelhouse.sh holds while it builds
        result = run_module(cache_prune.main, {"path": cache, "keep_versions": ["2.9.0"]})
    finally:
        os.close(fd)
    assert result["in_use"] == ["x86_64-py311/nvflare-2.8.3-8cf5c296da"], result
    assert "x86_64-py311/nvflare-2.8.3-8cf5c296da" not in [e["name"] for e in result["removed"]]
    assert os.path.isdir(lock[:-len(".lock")]) and os.path.isfile(lock[:-len(".lock")] + ".tar")
    later = run_module(cache_prune.main, {"path": cache, "keep_versions": ["2.9.0"]})
    assert [e["name"] for e in later["removed"]] == ["x86_64-py311/nvflare-2.8.3-8cf5c296da"], later


@pytest.mark.parametrize("keep", [[], [""], ["  "]])
def test_an_empty_keep_list_is_refused(cache, run_module, keep):
    before = _listing(cache)
    result = run_module(cache_prune.main, {"path": cache, "keep_versions": keep})
    assert result["failed"] and "keep_versions is empty" in result["msg"], result
    assert _listing(cache) == before


def test_a_missing_cache_is_empty(tmp_path, run_module):
    result = run_module(cache_prune.main, {"path": str(tmp_path / "none"), "keep_versions": ["2.9.0"]})
    assert not result["changed"] and result["removed"] == [] and result["kept"] == [], result


def test_links_are_not_followed(tmp_path, run_module):
    outside = tmp_path / "outside"
    _wheelhouse(str(outside), "x86_64-py311", "nvflare-2.8.3-8cf5c296da")
    root = tmp_path / "wheelhouse"
    root.mkdir()
    os.symlink(str(outside / "x86_64-py311"), str(root / "x86_64-py311"))
    os.makedirs(str(root / "arm64-py311"))
    os.symlink(str(outside / "x86_64-py311" / "nvflare-2.8.3-8cf5c296da"), str(root / "arm64-py311" / "nvflare-2.8.3-8cf5c296da"))
    result = run_module(cache_prune.main, {"path": str(root), "keep_versions": ["2.9.0"]})
    assert result["removed"] == [] and os.path.isdir(str(outside / "x86_64-py311" / "nvflare-2.8.3-8cf5c296da")), result


def _playbook(tmp_path, cache, *extra):
    (tmp_path / "inv.yml").write_text(
        "all:\n  vars:\n    nvflare_workspace: %s\n  children:\n    nvflare_server: {hosts: {s1: {ansible_host: 192.0.2.1}}}\n"
        "    nvflare_clients:\n      hosts:\n        c1: {ansible_host: 192.0.2.2}\n"
        "        c2: {ansible_host: 192.0.2.3, nvflare_version: 2.8.3}\n" % (tmp_path / "ws"))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(tmp_path / "inv.yml"),
                           os.path.join(ROOT, "playbooks", "prune_cache.yml"), "-e", "nvflare_venv_wheelhouse_cache=%s" % cache,
                           *extra], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300, check=False)


def test_the_playbook_keeps_every_version_of_the_inventory(tmp_path, cache):
    """Host c2 still runs 2.8.3 (an upgrade half done): its wheelhouse and golden venv stay; 2.4.2 goes unless kept
    with nvflare_cache_keep_versions. No host is contacted (192.0.2.x do not answer)."""
    before = _listing(cache)
    checked = _playbook(tmp_path, cache, "--check")
    assert checked.returncode == 0 and _listing(cache) == before, checked.stdout
    flat = " ".join(checked.stdout.split())
    assert "would remove 3 entries" in flat and "keeping NVFLARE 2.8.3, 2.9.0" in flat, checked.stdout
    kept = _playbook(tmp_path, cache, "-e", '{"nvflare_cache_keep_versions": ["2.4.2"]}')
    assert kept.returncode == 0 and "removed 2 entries" in " ".join(kept.stdout.split()), kept.stdout
    assert os.path.isdir(os.path.join(cache, "aarch64-py36", "nvflare-2.4.2-0123456789"))
    assert os.path.isfile(os.path.join(cache, "x86_64-py311", "venv-2.8.3-111111111111.tar.gz"))
    done = _playbook(tmp_path, cache)
    assert done.returncode == 0 and "changed=1" in done.stdout, done.stdout
    assert not os.path.exists(os.path.join(cache, "aarch64-py36", "nvflare-2.4.2-0123456789"))
    again = _playbook(tmp_path, cache)
    assert again.returncode == 0 and "changed=0" in again.stdout and "nothing to remove" in again.stdout, again.stdout
