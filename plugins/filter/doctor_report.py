# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: doctor_report
short_description: Judge what the doctor probe read on each host, as one table
version_added: 0.3.0
positional: _input
author:
  - edgefl maintainers (@edgefl)
description:
  - Turns the results of C(playbooks/files/doctor_probe.py) (one per host, as registered by C(playbooks/doctor.yml))
    into one row per host with a cell per check - C(preflight), C(connect), C(clock), C(disk), C(swap),
    C(throttle) - each C(ok), C(WARN <reason>), C(FAIL <reason>) or C(n/a), plus the full reasons as lines.
  - C(FAIL) is what breaks the federation - a kit that fails NVFLARE's preflight rules, a client or relay that
    cannot open a TCP connection to its parent (the server or its relay) or a server that does not answer on its
    own ports, a clock further from the control node's than O(max_clock_skew), less free disk than
    O(min_free_mb) where the workspace or job store lives, or a host that did not answer. C(WARN) is what slows it
    down - swap nearly full, a Jetson without swap, a Jetson thermal zone at or above its throttling trip point.
  - Swap and throttling are read on Jetsons; on other hosts the throttle cell is C(n/a).
options:
  _input:
    description:
      - One entry per host, in table order. Keys C(site_name), C(role) (C(server), C(relay) or C(client)) and
        C(result) (the registered result of the probe task - C(stdout), C(rc), C(unreachable), C(msg)).
    type: list
    elements: dict
    required: true
  min_free_mb:
    description: Free MiB below which a disk is C(FAIL).
    type: int
    default: 1024
  max_clock_skew:
    description: Largest acceptable clock offset in seconds (P(edgefl.nvflare.clock_skew#filter)); C(0) turns the
      check off.
    type: float
    default: 60
  swap_warn_percent:
    description: Swap use (percent of the total) at or above which the swap cell is C(WARN).
    type: int
    default: 90
"""

EXAMPLES = r"""
- name: Print the doctor table
  ansible.builtin.debug:
    msg: "{{ (__report.rows | community.general.to_prettytable).splitlines() + __report.problems }}"
  vars:
    __report: "{{ [{'site_name': 'site-1', 'role': 'client', 'result': probe}] | edgefl.nvflare.doctor_report(min_free_mb=2048) }}"
"""

RETURN = r"""
_value:
  description: The table and the verdict.
  type: dict
  contains:
    rows:
      description: One row per input entry - C(site), C(role) and a cell per check.
      type: list
      elements: dict
      sample:
        - {"site": "site-1", "role": "client", "preflight": "ok", "connect": "FAIL server1:8002 timed out",
           "clock": "ok +0.3 s", "disk": "ok 20480 MB free", "swap": "ok none", "throttle": "n/a"}
    problems:
      description: One line per C(FAIL) or C(WARN) cell with the whole reason.
      sample: ["FAIL site-1 connect: server1 server1:8002: timed out"]
      type: list
      elements: str
    failed:
      description: True when any cell is C(FAIL).
      type: bool
    counts:
      description: How many cells are C(ok), C(WARN) and C(FAIL).
      type: dict
"""

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.clock_skew import clock_skew

CHECKS = ("preflight", "connect", "clock", "disk", "swap", "throttle")
CELL_WIDTH = 40


def _cell(level, reason="", short=None):
    """(level, the whole reason for the problem lines, the short one for the table cell)."""
    return (level, reason, reason if short is None else short)


def _preflight(data):
    pf = data.get("preflight") or {}
    status = pf.get("status")
    if status == "ok":
        return _cell("ok")
    if status == "n/a":
        return _cell("n/a")
    return _cell("FAIL", pf.get("detail") or "preflight failed")


def _connect(data):
    targets = data.get("connect") or []
    if not targets:
        return _cell("n/a")
    bad = [t for t in targets if not t.get("ok")]
    if not bad:
        return _cell("ok")
    return _cell("FAIL", "; ".join(("%s %s: %s" % (t.get("name") or "", t.get("target"), t.get("error") or "failed")).strip()
                                   for t in bad),
                 "%s %s" % (bad[0].get("target"), _short_error(bad[0].get("error"))))


_SHORT_ERRORS = (("refused", "refused"), ("timed out", "timed out"), ("no route", "no route"),
                 ("not known", "unknown host"), ("temporary failure in name resolution", "unknown host"),
                 ("unreachable", "unreachable"), ("reset", "reset"))


def _short_error(error):
    low = (error or "").lower()
    for needle, short in _SHORT_ERRORS:
        if needle in low:
            return short
    return error or "failed"


def _clock(data, max_clock_skew):
    if data.get("epoch") is None or data.get("controller_epoch") is None:
        return _cell("WARN", "no clock reading")
    skew = clock_skew(data["epoch"], data["controller_epoch"], max_clock_skew)
    if skew["ok"]:
        return _cell("ok", "%+.1f s" % skew["offset"])
    return _cell("FAIL", skew["msg"] + "; sync it with NTP (systemd-timesyncd or chrony)",
                 "%s s %s" % (("%.1f" % abs(skew["offset"])).rstrip("0").rstrip("."),
                              "ahead" if skew["offset"] > 0 else "behind"))


def _disk(data, min_free_mb):
    entries = data.get("disk") or []
    if not entries:
        return _cell("n/a")
    low, unknown = [], []
    for d in entries:
        if d.get("free_mb") is None:
            unknown.append(d.get("path"))
        elif d["free_mb"] < min_free_mb:
            low.append(d)
    if low:
        return _cell("FAIL", "; ".join("%s: %d MB free < %d" % (d.get("path"), d["free_mb"], min_free_mb) for d in low),
                     "%d MB free < %d" % (min(d["free_mb"] for d in low), min_free_mb))
    if unknown:
        return _cell("WARN", "cannot read free space of " + ", ".join(str(u) for u in unknown))
    return _cell("ok", "%d MB free" % min(d["free_mb"] for d in entries))


def _swap(data, warn_percent):
    sw = data.get("swap") or {}
    total, free = sw.get("total_mb"), sw.get("free_mb")
    if total is None:
        return _cell("n/a")
    if not total:
        if data.get("jetson"):
            return _cell("WARN", "no swap on a Jetson (deploy.yml adds a swap file)", "no swap")
        return _cell("ok", "none")
    used = 100 * (total - (free or 0)) // total
    if used >= warn_percent:
        return _cell("WARN", "swap %d%% used (%d of %d MB)" % (used, total - (free or 0), total), "%d%% used" % used)
    return _cell("ok", "%d%% of %d MB used" % (used, total))


def _throttle(data):
    if not data.get("jetson"):
        return _cell("n/a")
    zones = data.get("thermal") or []
    if not zones:
        return _cell("n/a", "no thermal zones")
    hot = [z for z in zones if z.get("trip_c") is not None and z.get("temp_c", 0) >= z["trip_c"]]
    if hot:
        return _cell("WARN", "throttling: " + ", ".join("%s %.0f C >= %.0f C" % (z.get("zone"), z["temp_c"], z["trip_c"])
                                                        for z in hot),
                     "%s %.0f C" % (hot[0].get("zone"), hot[0]["temp_c"]))
    return _cell("ok", "max %.0f C" % max(z.get("temp_c", 0) for z in zones))


def _short(level, reason):
    text = level if not reason else "%s %s" % (level, reason)
    return text if len(text) <= CELL_WIDTH else text[:CELL_WIDTH - 3] + "..."


def _probe_data(result):
    """The probe's JSON, or (None, why) when the host or the probe did not answer."""
    if not isinstance(result, dict):
        return None, "no probe result"
    if result.get("unreachable"):
        msg = (result.get("msg") or "").strip().splitlines()
        return None, "host unreachable" + (": " + msg[0] if msg else "")
    if result.get("skipped"):
        return None, "probe skipped"
    stdout = result.get("stdout") or ""
    try:
        data = json.loads(stdout)
    except ValueError:
        # stderr or the task's message first; else what the probe printed that is no JSON (its first line)
        err = (result.get("stderr") or result.get("msg") or "").strip().splitlines()
        if err:
            return None, "probe failed: %s" % err[-1]
        out = stdout.strip().splitlines()
        return None, "probe failed: %s" % (("printed no JSON: %s" % out[0][:200]) if out else "no output")
    if not isinstance(data, dict):
        return None, "probe failed: unexpected output"
    return data, ""


def doctor_report(entries, min_free_mb=1024, max_clock_skew=60, swap_warn_percent=90):
    if not isinstance(entries, list):
        raise AnsibleFilterError("doctor_report: the input must be a list of {site_name, role, result}, got %s"
                                 % type(entries).__name__)
    try:
        min_free_mb = int(min_free_mb)
        swap_warn_percent = int(swap_warn_percent)
    except (TypeError, ValueError):
        raise AnsibleFilterError("doctor_report: min_free_mb and swap_warn_percent must be integers")
    rows, problems = [], []
    counts = {"ok": 0, "WARN": 0, "FAIL": 0}
    for entry in entries:
        site = str(entry.get("site_name") or entry.get("host") or "?")
        data, why = _probe_data(entry.get("result"))
        if data is None:
            cells = dict((c, _cell("-")) for c in CHECKS)
            cells["preflight"] = _cell("FAIL", why)
        else:
            cells = {
                "preflight": _preflight(data),
                "connect": _connect(data),
                "clock": _clock(data, max_clock_skew),
                "disk": _disk(data, min_free_mb),
                "swap": _swap(data, swap_warn_percent),
                "throttle": _throttle(data),
            }
        row = {"site": site, "role": str(entry.get("role") or "?")}
        for check in CHECKS:
            level, reason, short = cells[check]
            row[check] = _short(level, short)
            if level in counts:
                counts[level] += 1
            if level in ("WARN", "FAIL"):
                problems.append("%s %s %s: %s" % (level, site, check, reason))
        rows.append(row)
    return {"rows": rows, "problems": problems, "failed": counts["FAIL"] > 0, "counts": counts}


class FilterModule:
    def filters(self):
        return {"doctor_report": doctor_report}
