# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a workspace holds, to show that a run left every byte and mtime alone (unit and versions tests)."""

from __future__ import annotations

import hashlib
import os

# Every provisioning run (check mode included) takes this lock and records its holder in it.
LOCK = "edgefl_provision.lock"
# Every run of a playbook that changes the federation takes its run lock (edgefl.nvflare.run_lock) in the workspace,
# <workspace>/.edgefl-run-<project>.lock, and records its holder in it.
RUN_LOCK_PREFIX, RUN_LOCK_SUFFIX = ".edgefl-run-", ".lock"


def snapshot(path, ignore=()):
    """{relative path: (kind, sha256 or link target, mode, mtime_ns)} of everything under path; entries whose
    name is in ``ignore`` (or for which ``ignore(name)`` is true) are left out."""
    snap = {}
    if not os.path.lexists(path):
        return snap
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            if ignore(name) if callable(ignore) else name in ignore:
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, path)
            st = os.lstat(full)
            if os.path.islink(full):
                snap[rel] = ("link", os.readlink(full), st.st_mode, st.st_mtime_ns)
            elif os.path.isdir(full):
                snap[rel] = ("dir", None, st.st_mode, None)
            else:
                with open(full, "rb") as f:
                    snap[rel] = ("file", hashlib.sha256(f.read()).hexdigest(), st.st_mode, st.st_mtime_ns)
    return snap


def is_lock(name):
    return name == LOCK or (name.startswith(RUN_LOCK_PREFIX) and name.endswith(RUN_LOCK_SUFFIX))


def snapshot_without_lock(path):
    """snapshot() without the workspace's lock files (provisioning and run lock): nothing else may change."""
    return snapshot(path, ignore=is_lock)
