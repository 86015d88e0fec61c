# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kit archives edgefl.nvflare.kit_push packs on the control node, and what a killed run left of them (private to
this collection).

kit_push packs a host's kit files (its private key among them) into a 0600 temporary file and removes it in a
``finally``, right after the transfer. A run killed in between (kill -9, a power cut, an OOM kill) never gets there: the
archive stays in the temporary directory. Each archive's name carries the ansible-playbook process that made it (its
pid and start time), so a later kit_push or run lock removes the archives of runs that have ended, and never one a run
still uses.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time

from ansible_collections.edgefl.nvflare.plugins.module_utils._run_lock import alive, run_owner, start_time

PREFIX = "edgefl-kit-"
SUFFIX = ".tar"
# the name collection releases before this one gave the archive (mkstemp's "tmp" + random + this): no owner in it,
# removed once it is older than any run lasts
LEGACY_SUFFIX = ".edgefl-kit.tar"
LEGACY_AGE = 24 * 3600
_NAME = re.compile(r"^%s(\d+)-(\d+)-[^/]*%s$" % (re.escape(PREFIX), re.escape(SUFFIX)))


def owner():
    """(pid, start time) of the ansible-playbook process this process runs under (the worker's parent when it is not
    found); start time 0 when it cannot be read."""
    pid = run_owner()
    return pid, start_time(pid) or 0


def make(directory=None):
    """A new, empty 0600 archive file named after its owner: (fd, path), as tempfile.mkstemp returns them."""
    pid, started = owner()
    return tempfile.mkstemp(prefix="%s%d-%d-" % (PREFIX, pid, started), suffix=SUFFIX, dir=directory)


def sweep(directory=None, now=None):
    """Remove the kit archives in directory (default: the temporary directory) that runs which have ended left: those
    whose owner process is gone (or is another process with its number now), and those without a readable owner, or
    in the old name, once older than LEGACY_AGE. Only regular files of this user. Returns the removed paths."""
    directory = directory or tempfile.gettempdir()
    now = time.time() if now is None else now
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for name in names:
        found = _NAME.match(name)
        if not found and not (name.startswith("tmp") and name.endswith(LEGACY_SUFFIX)):
            continue
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
            continue
        started = int(found.group(2)) if found else 0
        if started:
            if alive(int(found.group(1)), started):
                continue
        elif now - st.st_mtime < LEGACY_AGE:
            continue
        try:
            os.unlink(path)
        except OSError:
            continue
        removed.append(path)
    return sorted(removed)
