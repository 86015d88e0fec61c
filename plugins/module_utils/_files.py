# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Crash-safe file writes shared by the provisioning state (control node) and the host record of the fast path
(every host), the small read and the user name the control-node locks share, and the fingerprint both records
keep. Private to edgefl.nvflare (no stable API); no dependency beyond the standard library."""

from __future__ import annotations

import contextlib
import getpass
import grp
import hashlib
import json
import os
import pwd
import stat
import tempfile


def canonical(value):
    """The JSON text a fingerprint hashes: sorted keys, no whitespace, anything else as its text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def fingerprint(doc):
    """The SHA-256 of ``doc``'s canonical JSON: what the provisioning state and the fast path's host record compare."""
    return hashlib.sha256(canonical(doc).encode("utf-8")).hexdigest()


def read_bytes(path):
    """The content of the file at ``path``, or None when it cannot be read (missing, gone, not allowed)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def user_name():
    """The name of the user this process runs for (LOGNAME, USER, then the password database), else its uid."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry
        return str(os.geteuid())


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, data, mode=0o600, uid=-1, gid=-1):
    """Replace ``path`` with ``data`` (bytes): temp file in the same directory, fsync, rename, fsync the directory.

    A reader (or a run after a crash) sees the old content or the new one, never a mix or an empty file. ``uid`` and
    ``gid`` (-1: unchanged) and ``mode`` are set on the temporary file, before its name is the file's.
    """
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
        os.close(fd)
        fd = None
        os.replace(tmp, path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def inside(rel):
    """True when ``rel`` is a non-empty relative path that stays inside its base directory (no ``..`` part)."""
    return isinstance(rel, str) and bool(rel) and not rel.startswith("/") and ".." not in rel.split("/")


class FileSpecError(ValueError):
    """A file entry of edgefl.nvflare.files that cannot be applied (bad mode, unknown owner, relative path)."""


def _mode(value, where):
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        text = str(value).strip()
        if not text or any(c not in "01234567" for c in text):
            raise FileSpecError("%s: mode %r is not an octal number such as '0644'" % (where, value))
        mode = int(text, 8)
    if mode > 0o7777:
        raise FileSpecError("%s: mode %s is more than 07777" % (where, oct(mode)))
    return mode


def _id(name, where, kind):
    if name is None or name == "":
        return -1
    text = str(name)
    if text.isdigit():
        return int(text)
    try:
        return (pwd.getpwnam(text).pw_uid if kind == "owner" else grp.getgrnam(text).gr_gid)
    except KeyError:
        raise FileSpecError("%s: %s %r does not exist on this host" % (where, kind, text)) from None


def owner_ids(owner, group):
    """(uid, gid) of an owner and a group name or number; -1 for one that is unset."""
    return _id(owner, "the kit files", "owner"), _id(group, "the kit files", "group")


def plan_file(entry, lenient=False):
    """One entry (path, state, content or secret_content, owner, group, mode) -> what differs on this host, read-only.

    ``lenient`` (check mode): an owner or group that does not exist yet counts as a difference, not an error.

    Returns a dict: ``path``, ``state``, ``exists``, ``before`` (the current text, or None when the content is the
    same or the file is binary/missing), ``reasons`` (a list: ``content``, ``owner``, ``group``, ``mode``,
    ``absent``), ``secret`` (True for secret_content: no diff), and the resolved ``uid``/``gid``/``mode``/``data``
    to apply.
    """
    path = entry.get("path") or ""
    if not os.path.isabs(path):
        raise FileSpecError("path %r is not absolute" % path)
    state = entry.get("state") or "present"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise FileSpecError("%s is a directory" % path)
    plan = {"path": path, "state": state, "exists": st is not None, "reasons": [], "before": None}
    if state == "absent":
        if st is not None:
            plan["reasons"].append("absent")
        return plan
    content, secret = entry.get("content"), entry.get("secret_content")
    if content is not None and secret is not None:
        raise FileSpecError("%s: give content or secret_content, not both" % path)
    if secret is not None:
        content = secret
        plan["secret"] = True
    if content is None:
        raise FileSpecError("%s: give content or secret_content (or state=absent)" % path)
    data = content.encode("utf-8")
    mode = _mode(entry.get("mode"), path)
    unknown = []
    ids = {}
    for kind in ("owner", "group"):
        try:
            ids[kind] = _id(entry.get(kind), path, kind)
        except FileSpecError:
            # check mode on a fresh host: the user an earlier task would create does not exist yet
            if not lenient:
                raise
            ids[kind] = -1
            unknown.append(kind)
    uid, gid = ids["owner"], ids["group"]
    plan.update(data=data, uid=uid, gid=gid, mode=mode)
    plan["reasons"].extend(unknown)
    if st is None:
        plan["reasons"].insert(0, "content")
        return plan
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise FileSpecError("%s is not a regular file (a link or a special file): replace it by hand" % path)
    with open(path, "rb") as f:
        old = f.read()
    if old != data:
        plan["reasons"].append("content")
        try:
            # a secret's old text is never kept: nothing could print it
            plan["before"] = None if plan.get("secret") else old.decode("utf-8")
        except UnicodeDecodeError:
            plan["before"] = None
    if uid != -1 and st.st_uid != uid:
        plan["reasons"].append("owner")
    if gid != -1 and st.st_gid != gid:
        plan["reasons"].append("group")
    if mode is not None and stat.S_IMODE(st.st_mode) != mode:
        plan["reasons"].append("mode")
    return plan


def apply_file(plan):
    """Make the host match ``plan`` (from plan_file): a content change is an atomic replace with owner, group and
    mode already set; an owner, group or mode change alone is a chown/chmod of the file in place."""
    path, reasons = plan["path"], plan["reasons"]
    if not reasons:
        return
    if plan["state"] == "absent":
        os.unlink(path)
        fsync_dir(os.path.dirname(path) or ".")
        return
    if "content" in reasons:
        mode = plan["mode"]
        if mode is None:
            mode = stat.S_IMODE(os.lstat(path).st_mode) if plan["exists"] else 0o644
        atomic_write(path, plan["data"], mode=mode, uid=plan["uid"], gid=plan["gid"])
        return
    if "owner" in reasons or "group" in reasons:
        os.lchown(path, plan["uid"], plan["gid"])
    if "mode" in reasons:
        os.chmod(path, plan["mode"])
