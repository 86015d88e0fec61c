# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The no-change fast path of site.yml / deploy.yml (issue #15): what a host looked like after its last full
converge, and whether it still looks like that.

After a host converged, the record holds a fingerprint of everything the control node decides from (the host's
nvflare_* variables, its model, its kit on the control node, the collection's own code) and what the roles left on
the host: file digests, modes and owners, directory listings, unit states. The next run probes the host once: when
the fingerprint is the same and every recorded item still reads the same, the host is in sync and skips the roles.
Anything else (no record, another fingerprint, one drifted item) sends it down the full path, which repairs it and
records again.

Private to edgefl.nvflare (no stable API). Runs on the hosts (the Python Ansible runs modules with) and on the
control node.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import glob
import hashlib
import json
import os
import stat
import time

from ansible_collections.edgefl.nvflare.plugins.module_utils._files import atomic_write, canonical

RECORD_FORMAT = 1
# item kinds: file (content digest and stat), tree (every entry below, recursively), names (the entry names of a
# directory, for big directories like a venv's site-packages), stat (mode, owner, size: big files like a swap file)
KINDS = ("file", "tree", "names", "stat")
# A tree with more entries than this is refused: use "names" for it (a venv has thousands of files).
TREE_LIMIT = 2000
_CHUNK = 1 << 16


class HostStateError(Exception):
    pass


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def _entry(path, with_digest=True):
    """One path as a small dict: type, mode, owner (and the content digest of a regular file)."""
    try:
        st = os.lstat(path)
    except OSError:
        return {"type": "missing"}
    out = {"mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    if stat.S_ISLNK(st.st_mode):
        out["type"] = "link"
        out["target"] = os.readlink(path)
    elif stat.S_ISDIR(st.st_mode):
        out["type"] = "dir"
    elif stat.S_ISREG(st.st_mode):
        out["type"] = "file"
        out["size"] = st.st_size
        if with_digest:
            out["sha256"] = file_digest(path)
    else:
        out["type"] = "other"
    return out


def _tree(path):
    top = _entry(path)
    if top["type"] != "dir":
        return top
    entries = {".": top}
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            full = os.path.join(root, name)
            entries[os.path.relpath(full, path)] = _entry(full)
            if len(entries) > TREE_LIMIT:
                raise HostStateError("%s has more than %d entries: record it as kind 'names'" % (path, TREE_LIMIT))
    return {"type": "tree", "entries": entries}


def _names(path):
    """The sorted entry names of every directory the pattern matches (a glob: lib/*/site-packages)."""
    matches = sorted(glob.glob(path)) if any(c in path for c in "*?[") else [path]
    out = {}
    for match in matches:
        try:
            out[match] = sorted(os.listdir(match))
        except OSError:
            out[match] = None
    return {"type": "names", "dirs": out}


def observe_path(item):
    kind = item.get("kind", "file")
    path = item["path"]
    if kind == "file":
        return _entry(path)
    if kind == "stat":
        return _entry(path, with_digest=False)
    if kind == "tree":
        return _tree(path)
    if kind == "names":
        return _names(path)
    raise HostStateError("unknown kind %r for %s (one of %s)" % (kind, path, ", ".join(KINDS)))


def normalize_items(items):
    """Check and sort the items: [{path, kind}] and [{unit}]; duplicates collapse."""
    paths, units = {}, set()
    for item in items or []:
        if not isinstance(item, dict):
            raise HostStateError("an item must be a dict with 'path' (and 'kind') or 'unit', got %r" % (item,))
        if item.get("unit"):
            units.add(str(item["unit"]))
            continue
        path = item.get("path")
        if not path or not str(path).startswith("/"):
            raise HostStateError("an item needs an absolute 'path' or a 'unit', got %r" % (item,))
        kind = item.get("kind", "file")
        if kind not in KINDS:
            raise HostStateError("unknown kind %r for %s (one of %s)" % (kind, path, ", ".join(KINDS)))
        paths[str(path)] = kind
    return {"paths": [{"path": p, "kind": paths[p]} for p in sorted(paths)], "units": sorted(units)}


def parse_systemctl_show(text, units):
    """`systemctl show -p Id -p ActiveState -p UnitFileState a b ...` -> {unit: {active, enabled}}.
    systemctl prints one block per unit, in the order asked, separated by a blank line."""
    blocks, cur = [], {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                blocks.append(cur)
                cur = {}
            continue
        key, _sep, value = line.partition("=")
        cur[key.strip()] = value.strip()
    if cur:
        blocks.append(cur)
    out = {}
    for unit, block in zip(units, blocks):
        out[unit] = {"active": unit_active(block.get("ActiveState", "")),
                     "enabled": block.get("UnitFileState", "")}
    for unit in units[len(blocks):]:
        out[unit] = {"active": "unknown", "enabled": ""}
    return out


def unit_active(state):
    """A unit that is starting counts as running: the record is written right after a (re)start."""
    if state in ("active", "activating", "reloading"):
        return "active"
    return state or "unknown"


def observe(normalized, units_reader):
    """normalized: normalize_items(); units_reader(list) -> parse_systemctl_show() result."""
    paths = {}
    for item in normalized["paths"]:
        paths[item["path"]] = observe_path(item)
    units = units_reader(normalized["units"]) if normalized["units"] else {}
    return {"paths": paths, "units": units}


def _differences(recorded, observed, prefix=""):
    """Names (never contents) of what differs."""
    out = []
    if recorded.get("type") == "tree" and observed.get("type") == "tree":
        old, new = recorded.get("entries", {}), observed.get("entries", {})
        for rel in sorted(set(old) | set(new)):
            if old.get(rel) != new.get(rel):
                out.append("%s/%s" % (prefix, rel) if rel != "." else prefix)
        return out
    if recorded.get("type") == "names" and observed.get("type") == "names":
        old, new = recorded.get("dirs", {}), observed.get("dirs", {})
        for d in sorted(set(old) | set(new)):
            if old.get(d) != new.get(d):
                out.append(d)
        return out
    if recorded != observed:
        out.append(prefix)
    return out


def compare(record, fp, observed, limit=10):
    """The reasons the host is not in sync with its record (empty: in sync)."""
    if not record:
        return ["no record of an earlier converge"]
    if record.get("format") != RECORD_FORMAT:
        return ["the record was written by another version of edgefl.nvflare"]
    if not fp:
        return ["no fingerprint: the inventory needs something only known after fact gathering"]
    if record.get("fingerprint") != fp:
        return ["the inventory, the kit or the collection changed since the record"]
    reasons = []
    old_paths = record.get("observed", {}).get("paths", {})
    for path in sorted(set(old_paths) | set(observed["paths"])):
        old, new = old_paths.get(path, {}), observed["paths"].get(path, {})
        for changed in _differences(old, new, path):
            reasons.append("changed: %s" % changed)
    old_units = record.get("observed", {}).get("units", {})
    for unit in sorted(set(old_units) | set(observed["units"])):
        old, new = old_units.get(unit), observed["units"].get(unit)
        if old != new:
            reasons.append("unit %s: %s, was %s" % (
                unit, _unit_text(new), _unit_text(old)))
    if len(reasons) > limit:
        reasons = reasons[:limit] + ["... and %d more" % (len(reasons) - limit)]
    return reasons


def _unit_text(state):
    if not state:
        return "not recorded"
    return "%s/%s" % (state.get("active"), state.get("enabled") or "-")


def read_record(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, IOError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def make_record(fp, normalized, observed):
    return {"format": RECORD_FORMAT, "fingerprint": fp, "items": normalized, "observed": observed}


def write_record(path, record):
    """Write the record atomically, 0600 (in a 0700 directory when this creates it). True when it changed."""
    text = canonical(record)
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except (OSError, IOError):
        pass
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        # the record's own directory is root-only; a parent created on the way gets the usual 0755
        os.makedirs(directory)
        os.chmod(directory, 0o700)
    atomic_write(path, text.encode("utf-8"), 0o600)
    return True


def remove_record(path, check_mode=False):
    """Remove the record and its directory when that is left empty (uninstall leaves no trace). True when there
    was something to remove."""
    directory = os.path.dirname(path)
    existed = os.path.exists(path)
    if existed and not check_mode:
        os.unlink(path)
    if os.path.isdir(directory) and not os.listdir(directory) and not check_mode:
        os.rmdir(directory)
        existed = True
    return existed


# The root CA of a kit (startup/rootCA.pem): who issued it tells which federation the kit belongs to.
PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
PEM_END = "-----END CERTIFICATE-----"
# a root certificate is a few KB; a bigger file is not one
CA_MAX_BYTES = 1 << 16


def cert_digest(text):
    """SHA-256 of the first PEM certificate in text (its base64 body, whitespace and line ends left out), so the
    same certificate written with other line ends or wrapping gives the same digest; None without one."""
    start = text.find(PEM_BEGIN)
    end = text.find(PEM_END, start + 1) if start >= 0 else -1
    if start < 0 or end < 0:
        return None
    body = "".join(text[start + len(PEM_BEGIN):end].split())
    if not body:
        return None
    return hashlib.sha256(body.encode("ascii", "replace")).hexdigest()


def ca_file_digest(path):
    """cert_digest() of a file, or None when it is missing, unreadable, too big or holds no certificate (a kit
    install repairs such a file: it tells nothing about whom the host belongs to)."""
    try:
        with open(path, "rb") as f:
            data = f.read(CA_MAX_BYTES + 1)
    except (IOError, OSError):
        return None
    if len(data) > CA_MAX_BYTES:
        return None
    return cert_digest(data.decode("ascii", "replace"))


def _json_root_ca_digest(path):
    """cert_digest() of the root_cert of NVFLARE's state/cert.json (the workspace's current root CA), or None."""
    try:
        with open(path) as f:
            root = json.load(f).get("root_cert")
    except (IOError, OSError, ValueError, AttributeError):
        return None
    return cert_digest(root) if isinstance(root, str) else None


def trusted_ca_digests(patterns):
    """{digest: path} of the root CAs the control node's files name (paths or glob patterns): PEM files, or
    NVFLARE's state/cert.json (a .json file: its root_cert)."""
    found = {}
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            digest = _json_root_ca_digest(path) if path.endswith(".json") else ca_file_digest(path)
            if digest and digest not in found:
                found[digest] = path
    return found


# The claim (/var/lib/edgefl-nvflare/claim.json): which federation's deploy first reached a host that has no kit yet.
# The kit's root CA tells whom a host belongs to once a kit is there; before that, two workspaces deploying the same
# fresh hosts at once would both converge them (one unpacking a venv while the other runs pip into it). The first
# deploy's probe claims the host with its root CA; a deploy from another workspace then stops in its probe, as it does
# on a host whose kit another root CA issued. The kit's removal (the service role's uninstall) releases the claim.
CLAIM_FORMAT = 1


def read_claim(path):
    """The claim at path as a dict with its root_ca digest (and since, by), or None: no file, unreadable, or not a
    claim (an empty or half-written file tells nothing)."""
    return _read_claim(path)[0]


def _read_claim(path):
    """(claim or None, whether a file was there)."""
    try:
        with open(path) as f:
            text = f.read()
    except (OSError, IOError) as exc:
        return None, exc.errno != errno.ENOENT
    try:
        data = json.loads(text)
    except ValueError:
        return None, True
    if not isinstance(data, dict) or not isinstance(data.get("root_ca"), str) or not data["root_ca"]:
        return None, True
    return data, True


def claim_host(path, root_ca, by="", trusted=(), replace=False, now=None):
    """Claim the host at path for the federation of root CA digest root_ca, unless a claim is there.

    Returns (claim, written): the claim in force afterwards and whether this call wrote it. A claim by a root CA of
    trusted (this workspace's current and earlier ones) stays as it is; another one stays too, unless replace (the
    operator moves the host into this federation). A new claim is linked into place, so of two deploys that claim the
    same host at once exactly one wins and the other reads the winner's claim; an unreadable file is replaced."""
    current, there = _read_claim(path)
    if current is not None and (current["root_ca"] in trusted or current["root_ca"] == root_ca or not replace):
        return current, False
    claim = {"format": CLAIM_FORMAT, "root_ca": root_ca, "by": by or "",
             "since": float(now if now is not None else time.time())}
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory)
    text = canonical(claim).encode("utf-8")
    if there:
        # replacing: another workspace's claim (replace) or a file that holds none
        atomic_write(path, text, 0o644)
        return claim, True
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        atomic_write(tmp, text, 0o644)
        try:
            os.link(tmp, path)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
            # another deploy claimed it a moment ago: its claim is the one in force
            winner = read_claim(path)
            if winner is not None:
                return winner, False
            atomic_write(path, text, 0o644)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return claim, True
