# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This module_utils file is private to the edgefl.nvflare collection. It is not
# part of the public API and may change without notice; do not use it from other collections.

"""Fleet decisions: the client quorum of the wait and the rollout batch sizes of the deploy.

Used by the quorum and rollout_serial filters, the wait_clients module and its action plugin.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_ALL = ("", "all", None)


class QuorumError(ValueError):
    """A quorum or batch value that cannot be used."""


def _count_or_percent(value, total, what):
    """Resolve a count (``3``, ``"3"``) or a percentage (``"25%"``) of ``total``; None means all."""
    if isinstance(value, bool):
        raise QuorumError("%s must be a count, a percentage like '25%%' or 'all', got %r" % (what, value))
    if value in _ALL or (isinstance(value, str) and value.strip().lower() in _ALL):
        return None
    if isinstance(value, (int, float)):
        if value != int(value):
            raise QuorumError("%s must be a whole number of clients or a percentage, got %r" % (what, value))
        return int(value)
    text = str(value).strip()
    m = _PERCENT.match(text)
    if m:
        pct = Fraction(m.group(1))  # exact: 64.4% of 250 is 161, which float arithmetic makes 162
        if pct <= 0 or pct > 100:
            raise QuorumError("%s percentage must be in (0, 100], got %r" % (what, value))
        return max(1, int(math.ceil(total * pct / 100)))
    if text.isdigit():
        return int(text)
    raise QuorumError("%s must be a count, a percentage like '25%%' or 'all', got %r" % (what, value))


def min_clients(value, expected_count):
    """The quorum as a number of clients: ``value`` is a count, a percentage or 'all' (the default)."""
    n = _count_or_percent(value, expected_count, "nvflare_min_clients")
    if n is None:
        return expected_count
    if n < 0:
        raise QuorumError("nvflare_min_clients must not be negative, got %r" % value)
    if n > expected_count:
        raise QuorumError(
            "nvflare_min_clients=%s is more than the %d client(s) of the inventory: give at most %d, a percentage "
            "such as '75%%', or 'all'" % (value, expected_count, expected_count)
        )
    return n


def quorum(expected, connected, min_value=None):
    """Compare the clients the server lists with the inventory's and the quorum.

    Returns ``{"ok", "all_connected", "min_clients", "expected", "connected", "missing", "extra", "msg"}``:
    ``connected`` holds the inventory clients the server lists, ``missing`` those it does not,
    ``extra`` clients the server lists that the inventory does not know (they do not count).
    """
    expected = sorted(set(expected or []))
    listed = set(connected or [])
    need = min_clients(min_value, len(expected))
    have = [n for n in expected if n in listed]
    missing = [n for n in expected if n not in listed]
    extra = sorted(listed.difference(expected))
    ok = len(have) >= need
    msg = "%d/%d clients connected (quorum %d)" % (len(have), len(expected), need)
    if missing:
        msg += "; missing: %s" % ", ".join(missing)
    if extra:
        msg += "; not in the inventory: %s" % ", ".join(extra)
    return {
        "ok": ok,
        "all_connected": not missing,
        "min_clients": need,
        "expected": expected,
        "connected": have,
        "missing": missing,
        "extra": extra,
        "msg": msg,
    }


def rollout_serial(batch, clients, others=0):
    """The ``serial`` list of a play that runs ``others`` hosts (server, relays) first, then the clients.

    ``batch`` is a count, a percentage of the clients or 'all'. The first batch holds the server and
    the relays plus one batch of clients, every later batch one batch of clients. 'all' (the default)
    gives one batch of every host, as without ``serial``.
    """
    clients = int(clients)
    others = int(others)
    if clients < 0 or others < 0:
        raise QuorumError("host counts must not be negative")
    size = _count_or_percent(batch, clients, "nvflare_rollout_batch")
    total = clients + others
    if size is None or size >= clients:
        return [max(total, 1)]
    if size < 1:
        raise QuorumError("nvflare_rollout_batch must be at least 1 client, got %r: give a number of clients, a "
                          "percentage such as '25%%', or 'all'" % batch)
    return [others + size, size]


def wait_decision(result, elapsed, timeout, grace):
    """What a wait for clients does next, from a quorum() result after ``elapsed`` seconds.

    ``done`` when every client is connected, or when the quorum is reached and the ``grace`` seconds
    for the rest have passed (or the timeout has); ``fail`` when the timeout passed below the quorum;
    else ``wait``.
    """
    if result["all_connected"]:
        return "done"
    if result["ok"] and (elapsed >= grace or elapsed >= timeout):
        return "done"
    if elapsed >= timeout:
        return "fail"
    return "wait"


def failure_msg(result, waited, status=None):
    """Why a wait for clients failed; ``status``: the last edgefl.nvflare.status result, whose reason a server that
    did not answer comes first with (then no client can be seen, whatever they do)."""
    msg = "only %d of the %d clients connected after %ds, below the quorum of %d (nvflare_min_clients); missing: %s" % (
        len(result["connected"]),
        len(result["expected"]),
        int(waited),
        result["min_clients"],
        ", ".join(result["missing"]) or "none",
    )
    if status and status.get("reachable") is False:
        msg = ("the server did not answer (%s): check its service (systemctl status on the server host) and its log "
               "(<server workspace>/log.txt) first; %s" % (status.get("unreachable_msg") or "unreachable", msg))
    return msg


def wait_result(status, expected, min_value, waited):
    """(quorum(), the wait's result) from one edgefl.nvflare.status result."""
    q = quorum(expected, status.get("client_names") or [], min_value)
    res = dict((k, v) for k, v in status.items() if k not in ("failed", "msg", "invocation", "changed"))
    res.update(
        changed=False,
        msg=q["msg"],
        quorum_reached=q["ok"],
        min_clients=q["min_clients"],
        connected_clients=q["connected"],
        missing_clients=q["missing"],
        all_clients_connected=q["all_connected"],
        waited=round(waited, 1),
    )
    if status.get("reachable") is False:
        res["msg"] = "server not reachable; " + q["msg"]
    return q, res
