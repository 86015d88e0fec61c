# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/nvflare_venv/files/venv_install.sh: the real script with stand-in pip and venv python."""

from __future__ import annotations

import os
import subprocess
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "roles", "nvflare_venv", "files", "venv_install.sh")
CONTENT = '{"requirements": ["nvflare==2.9.0", "numpy<2"]}'


def _exe(path, text):
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def env(tmp_path):
    """A host: a wheelhouse archive, a stand-in pip (logs its argv and the wheels it sees) and venv python."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pip-24.0-py3-none-any.whl", "nvflare-2.9.0-py3-none-any.whl"):
        (src / name).write_text("wheel")
    archive = tmp_path / "cache" / "nvflare-2.9.0-abc.tar"
    archive.parent.mkdir()
    with tarfile.open(archive, "w") as tar:
        for name in sorted(os.listdir(src)):
            tar.add(src / name, arcname=name)
    log = tmp_path / "pip.log"
    installed = tmp_path / "installed-version"
    installed.write_text("2.9.0")
    pip = _exe(
        tmp_path / "pip",
        '#!/bin/sh\necho "argv: $*" >>%s\nls "$WHEELS" >>%s 2>&1 || true\n'
        '[ -z "${PIP_FAIL:-}" ] || { echo "ERROR: no matching distribution" >&2; exit 1; }\n' % (log, log),
    )
    py = _exe(tmp_path / "python", '#!/bin/sh\ncat %s\n' % installed)
    return {
        "tmp": tmp_path,
        "archive": archive,
        "dir": tmp_path / "wheelhouse" / "nvflare-2.9.0-abc",
        "marker": tmp_path / "venv" / ".edgefl-requirements",
        "pip": pip,
        "py": py,
        "log": log,
        "installed": installed,
    }


def run(env, archive=None, keep="remove", want="2.9.0", fail=False):
    env["marker"].parent.mkdir(exist_ok=True)
    archive = str(env["archive"]) if archive is None else archive
    argv = ["/bin/sh", SCRIPT, archive, str(env["dir"]), keep, env["py"], want, str(env["marker"]), CONTENT]
    argv += [env["pip"], "install", "--no-index", "a b.whl"]
    extra = {"WHEELS": str(env["dir"])}
    if fail:
        extra["PIP_FAIL"] = "1"
    return subprocess.run(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, **extra), check=False
    )


def test_wheelhouse_unpacked_used_and_removed(env):
    proc = run(env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "nvflare 2.9.0"
    log = env["log"].read_text().splitlines()
    # pip ran with its arguments intact (one with a space) while the wheels were unpacked
    assert log[0] == "argv: install --no-index a b.whl"
    assert log[1:] == ["nvflare-2.9.0-py3-none-any.whl", "pip-24.0-py3-none-any.whl"]
    assert not env["archive"].exists()
    assert not env["dir"].exists()
    assert env["marker"].read_text() == CONTENT


def test_keep_leaves_the_wheels(env):
    proc = run(env, keep="keep")
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(env["dir"])) == ["nvflare-2.9.0-py3-none-any.whl", "pip-24.0-py3-none-any.whl"]
    assert not env["archive"].exists()


def test_other_version_installed_writes_no_marker(env):
    env["installed"].write_text("2.8.0")
    proc = run(env)
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[-1] == "nvflare 2.8.0"
    assert not env["marker"].exists()


def test_stale_marker_is_kept_when_the_version_differs(env):
    env["marker"].parent.mkdir()
    env["marker"].write_text("old")
    env["installed"].write_text("2.8.0")
    assert run(env).returncode == 0
    assert env["marker"].read_text() == "old"


def test_pip_failure_fails_without_marker(env):
    proc = run(env, fail=True)
    assert proc.returncode != 0
    assert "no matching distribution" in proc.stderr
    assert not env["marker"].exists()
    assert "nvflare" not in proc.stdout


def test_index_mode_unpacks_nothing(env):
    env["dir"].mkdir(parents=True)
    (env["dir"] / "torch-2.3.0-cp310-none-linux_aarch64.whl").write_text("local wheel")
    proc = run(env, archive="")
    assert proc.returncode == 0, proc.stderr
    assert env["archive"].exists()  # not touched
    assert env["log"].read_text().splitlines()[1:] == ["torch-2.3.0-cp310-none-linux_aarch64.whl"]
    assert not env["dir"].exists()
    assert env["marker"].read_text() == CONTENT


def test_broken_archive_fails_before_pip(env):
    env["archive"].write_text("not a tar")
    proc = run(env)
    assert proc.returncode != 0
    assert not env["log"].exists()
    assert not env["marker"].exists()


def test_too_few_arguments():
    proc = subprocess.run(["/bin/sh", SCRIPT, "a", "b"], stderr=subprocess.PIPE, text=True, check=False)
    assert proc.returncode == 2 and "usage" in proc.stderr
