# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shipped example job is what examples/make_numpy_fedavg.py makes with NVFLARE's NumpyFedAvgRecipe."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys

from conftest import ROOT

JOB = os.path.join(ROOT, "playbooks", "files", "jobs", "numpy_fedavg")


def tree(path):
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _dirs, files in os.walk(path) for f in files)


def test_generator_reproduces_the_shipped_job(tmp_path):
    out = tmp_path / "numpy_fedavg"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "make_numpy_fedavg.py"), "--out", str(out)],
                          capture_output=True, text=True, check=False, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert tree(str(out)) == tree(JOB)
    for rel in tree(JOB):
        assert filecmp.cmp(os.path.join(JOB, rel), str(out / rel), shallow=False), rel
