# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This module_utils file is private to the edgefl.nvflare collection. It is not
# part of the public API and may change without notice; do not use it from other collections.

"""What the edgefl.nvflare.cache_prune module removes from the control node's wheelhouse cache, and the removal.

The cache (the nvflare_venv role's nvflare_venv_wheelhouse_cache) holds one directory per platform and Python,
``<arch>-py<XY>/``, and in it, per NVFLARE version and requirement set:

- a wheelhouse: ``nvflare-<version>-<hash>/`` (the wheels), ``nvflare-<version>-<hash>.tar`` (what the hosts get)
  and ``nvflare-<version>-<hash>.lock`` (build-wheelhouse.sh holds it while it builds);
- golden venvs: ``venv-<version>-<hash>.tar.gz``, and ``venv-<version>-<hash>.tar.gz.part-*`` while one is being
  fetched (or after a run was killed in the fetch).

Golden venvs named ``venv-<hash>.tar.gz`` (no version) come from before the version was part of the name: no run
looks for them any more. Anything else in the cache is not the collection's and is never touched.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import time

PLATFORM_RE = re.compile(r"^[A-Za-z0-9_]+-py[0-9]+$")
WHEELHOUSE_RE = re.compile(r"^nvflare-(?P<version>.+)-(?P<hash>[0-9a-f]{10})(?P<ext>|\.tar|\.lock)$")
GOLDEN_RE = re.compile(r"^venv-(?P<version>.+)-(?P<hash>[0-9a-f]{12})\.tar\.gz(?P<part>\.part-.+)?$")
OLD_GOLDEN_RE = re.compile(r"^venv-(?P<hash>[0-9a-f]{12})\.tar\.gz(?P<part>\.part-.+)?$")

# A part file younger than this may belong to a fetch that is running now.
PART_MAX_AGE = 24 * 3600


def _size(path):
    if os.path.islink(path) or not os.path.isdir(path):
        try:
            return os.lstat(path).st_size
        except OSError:
            return 0
    total = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total


def plan(cache, keep_versions, now=None, part_max_age=PART_MAX_AGE):
    """The entries of ``cache`` to remove and to keep, each a dict: ``name`` (the entry's name, relative to the cache),
    ``kind`` (wheelhouse, golden venv, partial golden venv), ``version`` (None for an old golden venv), ``paths`` (its
    files, absolute; a wheelhouse's lock file last) and, for those removed, ``reason`` and ``bytes``."""
    keep_versions = set(str(v) for v in keep_versions)
    now = time.time() if now is None else now
    remove, keep = [], []
    try:
        platforms = sorted(os.listdir(cache))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return remove, keep
        raise
    for platform in platforms:
        pdir = os.path.join(cache, platform)
        if not PLATFORM_RE.match(platform) or os.path.islink(pdir) or not os.path.isdir(pdir):
            continue
        wheelhouses = {}
        for name in sorted(os.listdir(pdir)):
            path = os.path.join(pdir, name)
            if os.path.islink(path):
                continue
            match = WHEELHOUSE_RE.match(name)
            if match:
                key = "nvflare-%s-%s" % (match.group("version"), match.group("hash"))
                wheelhouses.setdefault(key, {"version": match.group("version"), "paths": []})["paths"].append(path)
                continue
            match = GOLDEN_RE.match(name) or OLD_GOLDEN_RE.match(name)
            if not match or not os.path.isfile(path):
                continue
            version = match.groupdict().get("version")
            part = match.group("part")
            entry = {"name": os.path.join(platform, name), "version": version, "paths": [path],
                     "kind": "partial golden venv" if part else "golden venv"}
            if version is None:
                entry["reason"] = "named before golden venvs carried their NVFLARE version: no run uses it"
            elif version not in keep_versions:
                entry["reason"] = "NVFLARE %s is not kept" % version
            elif part:
                age = now - os.path.getmtime(path)
                if age > part_max_age:
                    entry["reason"] = "left by a fetch that did not finish (%d h old)" % (age // 3600)
            (remove if "reason" in entry else keep).append(entry)
        for key in sorted(wheelhouses):
            found = wheelhouses[key]
            # the lock file goes last: it is what a concurrent build of this wheelhouse waits on
            paths = sorted(found["paths"], key=lambda p: (p.endswith(".lock"), p))
            entry = {"name": os.path.join(platform, key), "version": found["version"], "paths": paths,
                     "kind": "wheelhouse"}
            if found["version"] not in keep_versions:
                entry["reason"] = "NVFLARE %s is not kept" % found["version"]
                remove.append(entry)
            else:
                keep.append(entry)
    for entry in remove:
        entry["bytes"] = sum(_size(p) for p in entry["paths"])
    return remove, keep


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        try:
            os.unlink(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise


def remove_entry(entry):
    """Remove an entry of plan(). A wheelhouse is removed only while its lock file can be taken at once: a run that
    builds or reads it now holds that lock. Returns False (nothing removed) when the lock is held."""
    lock = next((p for p in entry["paths"] if p.endswith(".lock")), None)
    if lock is None:
        for path in entry["paths"]:
            _remove(path)
        return True
    fd = os.open(lock, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        for path in entry["paths"]:
            _remove(path)
        return True
    finally:
        os.close(fd)
