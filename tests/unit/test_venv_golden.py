# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The golden venv: roles/nvflare_venv/files/venv_golden.sh on real venvs, and edgefl.nvflare.venv_sources."""

from __future__ import annotations

import os
import subprocess
import sys
import venv

import pytest

from ansible_collections.edgefl.nvflare.plugins.filter.venv_sources import FilterModule

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "roles", "nvflare_venv", "files", "venv_golden.sh")
venv_sources = FilterModule().filters()["venv_sources"]
PYDIR = "python%d.%d" % sys.version_info[:2]


def make_venv(path, version="2.9.0", marker=True):
    """A real venv (without pip) holding a stand-in nvflare package with its dist-info, as pip leaves it."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(str(path))
    site = path / "lib" / PYDIR / "site-packages"
    (site / "nvflare").mkdir(parents=True)
    (site / "nvflare" / "__init__.py").write_text("")
    info = site / ("nvflare-%s.dist-info" % version)
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nvflare\nVersion: %s\n" % version)
    if marker:
        (path / ".edgefl-requirements").write_text('{"requirements": ["nvflare==%s"]}' % version)
    return path


def golden(*args):
    return subprocess.run(["/bin/sh", SCRIPT, *map(str, args)], capture_output=True, text=True, check=False)


@pytest.fixture
def packed(tmp_path):
    """A builder's venv at b/opt/venv packed into b/wheels, and a fresh empty venv at h/opt/venv."""
    src = make_venv(tmp_path / "b" / "opt" / "venv")
    proc = golden("pack", src, tmp_path / "b" / "wheels")
    assert proc.returncode == 0, proc.stderr
    archive = proc.stdout.strip().splitlines()[-1]
    assert archive.endswith(".tar.gz") and os.path.isfile(archive)
    target = tmp_path / "h" / "opt" / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(str(target))
    return {"archive": archive, "target": target, "tmp": tmp_path}


def test_pack_refuses_a_venv_pip_did_not_finish(tmp_path):
    src = make_venv(tmp_path / "venv", marker=False)
    proc = golden("pack", src, tmp_path / "out")
    assert proc.returncode == 1
    assert "nothing to pack" in proc.stderr
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_unpack_puts_the_golden_venv_in_place(packed):
    target = packed["target"]
    proc = golden("unpack", packed["archive"], target, "2.9.0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "nvflare 2.9.0"
    assert (target / ".edgefl-requirements").read_text() == '{"requirements": ["nvflare==2.9.0"]}'
    assert (target / ".edgefl-golden").read_text().strip() == os.path.basename(packed["archive"])
    assert (target / "lib" / PYDIR / "site-packages" / "nvflare" / "__init__.py").is_file()
    # the venv's own python imports it where it now lives
    out = subprocess.run([str(target / "bin" / "python"), "-c", "import nvflare; print(nvflare.__file__)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith(str(target))
    assert not os.path.exists(packed["archive"])
    assert sorted(os.listdir(target.parent)) == ["venv"]  # no temporary directory left


def test_unpack_falls_back_when_the_version_differs(packed):
    target = packed["target"]
    proc = golden("unpack", packed["archive"], target, "2.8.3")
    assert proc.returncode == 3
    assert "holds nvflare 2.9.0, not 2.8.3" in proc.stdout
    # the fresh venv is untouched, nothing is left behind
    assert not (target / ".edgefl-requirements").exists()
    assert sorted(os.listdir(target.parent)) == ["venv"]
    assert not os.path.exists(packed["archive"])


def test_unpack_never_replaces_a_venv_with_packages(packed, tmp_path):
    target = packed["target"]
    keep = target / "lib" / PYDIR / "site-packages" / "userpkg.py"
    keep.parent.mkdir(parents=True, exist_ok=True)
    keep.write_text("x = 1\n")
    proc = golden("unpack", packed["archive"], target, "2.9.0")
    assert proc.returncode == 3
    assert "already holds packages" in proc.stdout
    assert keep.read_text() == "x = 1\n"


def test_unpack_falls_back_on_a_broken_archive(packed):
    with open(packed["archive"], "wb") as f:
        f.write(b"not a gzip")
    proc = golden("unpack", packed["archive"], packed["target"], "2.9.0")
    assert proc.returncode == 3
    assert "cannot unpack" in proc.stdout
    assert sorted(os.listdir(packed["target"].parent)) == ["venv"]


def test_unpack_falls_back_when_the_python_does_not_run_here(packed, tmp_path):
    # a builder whose base Python this host lacks: bin/python points nowhere
    src = make_venv(tmp_path / "c" / "opt" / "venv")
    os.remove(src / "bin" / "python")
    os.symlink("/nonexistent/python3", src / "bin" / "python")
    archive = golden("pack", src, tmp_path / "c" / "wheels").stdout.strip()
    proc = golden("unpack", archive, packed["target"], "2.9.0")
    assert proc.returncode == 3
    assert "does not run here" in proc.stdout


def test_usage():
    assert golden().returncode == 2
    assert golden("unpack", "a", "b").returncode == 2


def fact(name="venv-abc", needs=True, eligible=True, cached=False):
    return {"__nvflare_venv_golden_fact": {"needs_install": needs, "eligible": eligible, "name": name,
                                           "cached": cached}}


def test_sources_first_host_of_each_group_builds():
    hv = {"server1": fact(), "site-1": fact(), "site-2": fact(name="venv-arm"), "site-3": fact(name="venv-arm"),
          "site-4": fact()}
    assert venv_sources(list(hv), hv) == {"server1": "build", "site-1": "unpack", "site-2": "build",
                                          "site-3": "unpack", "site-4": "unpack"}


def test_sources_cached_archive_means_no_builder():
    hv = {"a": fact(cached=True), "b": fact(cached=True)}
    assert venv_sources(["a", "b"], hv) == {"a": "unpack", "b": "unpack"}


def test_sources_leave_out_hosts_with_nothing_to_install_and_ineligible_use_pip():
    hv = {"a": fact(needs=False), "b": fact(eligible=False), "c": {}, "d": fact(eligible="False"), "e": fact(),
          "f": fact(needs="True")}
    # "c" has no fact (not in this install), "d": a templated string False; "a" does not count toward e's group
    expected = {"b": "pip", "d": "pip", "e": "build", "f": "unpack"}
    assert venv_sources(["a", "b", "c", "d", "e", "f", "missing"], hv) == expected


def test_sources_a_lone_host_packs_nothing_unless_cached():
    hv = {"a": fact(), "b": fact(name="venv-arm"), "c": fact(name="venv-x", cached=True)}
    assert venv_sources(["a", "b", "c"], hv) == {"a": "pip", "b": "pip", "c": "unpack"}


def test_sources_order_follows_the_play():
    hv = {"a": fact(), "b": fact()}
    assert venv_sources(["b", "a"], hv) == {"b": "build", "a": "unpack"}


def test_sources_rejects_a_non_list():
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError):
        venv_sources("server1", {})
