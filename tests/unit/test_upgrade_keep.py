# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/files/upgrade_keep.sh: the control-node steps of upgrade.yml on the old version's provisioning project,
each left in a state the next run resumes from when a kill stops it (a kill-and-concurrency hunt: a copy killed
half-way was later taken for the rollback point, and a rollback put that partial copy in place of the project)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "playbooks", "files", "upgrade_keep.sh")


def run(step, project, keep):
    out = subprocess.run(["/bin/sh", SCRIPT, step, str(project), str(keep)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stdout
    return out.stdout.splitlines()


def tree(path):
    found = []
    for top, _dirs, files in os.walk(str(path)):
        for name in files:
            with open(os.path.join(top, name), encoding="utf-8") as f:
                found.append((os.path.relpath(os.path.join(top, name), str(path)), f.read()))
    return sorted(found)


@pytest.fixture(name="ws")
def fixture_ws(tmp_path):
    project = tmp_path / "p"
    (project / "state").mkdir(parents=True)
    (project / "state" / "cert.json").write_text("old root CA")
    (project / "kits").mkdir()
    (project / "kits" / "site-1").write_text("old kit")
    return project, tmp_path / ".p.upgrade-previous"


def test_keep_then_restore(ws):
    project, keep = ws
    old = tree(project)
    assert run("keep", project, keep) == ["changed"]
    assert tree(keep) == old and run("keep", project, keep) == []
    (project / "kits" / "site-1").write_text("new kit")
    new = tree(project)
    assert run("restore", project, keep) == ["changed"]
    assert tree(project) == old and not keep.exists()
    # the new version's project stays aside until every host was rolled back (upgrade.yml runs done then)
    failed = keep.parent / (keep.name + ".failed")
    assert tree(failed) == new
    assert run("restore", project, keep) == []
    assert run("done", project, keep) == ["changed"] and not failed.exists()
    assert run("done", project, keep) == [] and run("recover", project, keep) == []


def test_a_rollback_killed_before_every_host_was_rolled_back_resumes_from_the_old_project(ws):
    """The control node has the old project back, some hosts still run the new version: the next upgrade.yml run
    resumes the upgrade from the old project (its new rollback point), and the new version's copy goes."""
    project, keep = ws
    old = tree(project)
    run("keep", project, keep)
    (project / "kits" / "site-1").write_text("new kit")
    run("restore", project, keep)  # killed after this, before the hosts' rollback and done
    failed = keep.parent / (keep.name + ".failed")
    assert failed.exists()
    said = run("recover", project, keep)
    assert said[0] == "changed" and "a rollback was killed before every host was rolled back" in said[1], said
    assert tree(project) == old and not failed.exists() and not keep.exists()
    assert run("keep", project, keep) == ["changed"] and tree(keep) == old


def test_a_copy_killed_half_way_is_dropped_not_kept(ws):
    project, keep = ws
    partial = keep.parent / (keep.name + ".partial")
    partial.mkdir()
    (partial / "state").mkdir()  # what a cp killed after one directory leaves
    said = run("recover", project, keep)
    assert said[0] == "changed" and "dropped %s" % partial in said[1], said
    assert not partial.exists() and not keep.exists()
    assert run("keep", project, keep) == ["changed"] and tree(keep) == tree(project)


def test_a_rollback_killed_between_its_renames_resumes_the_upgrade(ws):
    project, keep = ws
    run("keep", project, keep)
    (project / "kits" / "site-1").write_text("new kit")
    new = tree(project)
    failed = keep.parent / (keep.name + ".failed")
    project.rename(failed)  # restore killed after its first rename
    said = run("recover", project, keep)
    assert said[0] == "changed" and "a rollback killed between its two renames was undone" in said[1], said
    assert tree(project) == new and keep.exists() and not failed.exists()
    # the resumed run's rollback completes
    assert run("restore", project, keep) == ["changed"]
    assert tree(project) == [("kits/site-1", "old kit"), ("state/cert.json", "old root CA")]
    assert run("done", project, keep) == ["changed"] and not failed.exists()


def test_a_project_removed_by_an_older_rollback_is_copied_back(ws):
    project, keep = ws
    run("keep", project, keep)
    old = tree(keep)
    shutil.rmtree(str(project))  # the earlier playbook: rm -rf PROJECT && mv KEEP PROJECT, killed after the rm
    partial = keep.parent / (keep.name + ".partial")
    (partial / "state").mkdir(parents=True)  # and this recovery's own copy, killed once
    said = run("recover", project, keep)
    assert said[0] == "changed" and "copied the kept old version back" in said[1], said
    assert tree(project) == old and tree(keep) == old and not partial.exists()
    assert sorted(os.listdir(str(project))) == ["kits", "state"]  # nothing nested


def test_an_unknown_step_is_refused():
    out = subprocess.run(["/bin/sh", SCRIPT, "swap", "a", "b"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, check=False)
    assert out.returncode == 2 and "usage: upgrade_keep.sh" in out.stdout


def test_the_script_passes_shellcheck():
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed")
    subprocess.run(["shellcheck", "-s", "sh", SCRIPT], check=True)
