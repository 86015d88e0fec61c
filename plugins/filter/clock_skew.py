# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: clock_skew
short_description: How far a host's clock is from the control node's, and whether that is acceptable
version_added: 0.3.0
positional: _input, controller_epoch, max_seconds
author:
  - edgefl maintainers (@edgefl)
description:
  - Compares a host's clock (seconds since the epoch, read on the host) with the control node's read at the same
    moment, and says whether the difference is within O(max_seconds).
  - A host whose clock is behind the control node's fails TLS with a certificate the control node just issued
    (its C(notBefore) lies in the host's future); one far ahead fails it as the certificate nears expiry, and
    its logs and job times do not line up with the others'.
  - O(controller_epoch) may also be a C([earliest, latest]) pair when the host's clock was read at an unknown
    moment between them (the C(date_time) facts gathered for many hosts); the offset is then the smallest one
    that the window allows, so a slow fact gathering never reports a skew that is not there.
  - Used by C(playbooks/deploy.yml) (its pre-check, O(max_seconds) from C(nvflare_max_clock_skew)) and
    C(playbooks/doctor.yml).
options:
  _input:
    description: The host's clock, seconds since the epoch (a number or a numeric string, e.g. the C(epoch) fact).
    type: raw
    required: true
  controller_epoch:
    description: The control node's clock at the same moment, or a C([earliest, latest]) window.
    type: raw
    required: true
  max_seconds:
    description: The largest acceptable offset, in seconds; C(0) or less accepts any offset (the check is off).
    type: float
    required: true
"""

EXAMPLES = r"""
- name: Stop when this host's clock is off
  ansible.builtin.assert:
    that: __skew.ok
    fail_msg: "{{ __skew.msg }}"
    quiet: true
  vars:
    __skew: "{{ ansible_facts.date_time.epoch | edgefl.nvflare.clock_skew(now().timestamp(), 60) }}"
"""

RETURN = r"""
_value:
  description: The offset and the verdict.
  type: dict
  contains:
    offset:
      description: Host clock minus control-node clock, in seconds (positive = the host is ahead), rounded to 0.1 s.
      type: float
      sample: -125.3
    ok:
      description: True when the absolute offset is at most O(max_seconds) (always true when O(max_seconds) <= 0).
      type: bool
    msg:
      description: One line for a person, e.g. C(clock 125.3 s behind the control node (max 60 s)).
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.plugin_utils._seconds import seconds


def _number(value, what):
    return seconds(value, what, "clock_skew")


def clock_skew(host_epoch, controller_epoch, max_seconds):
    host = _number(host_epoch, "the host epoch")
    limit = _number(max_seconds, "max_seconds")
    if isinstance(controller_epoch, (list, tuple)):
        if len(controller_epoch) != 2:
            raise AnsibleFilterError("clock_skew: controller_epoch must be a number or an [earliest, latest] pair, "
                                     "got %r" % (controller_epoch,))
        earliest, latest = sorted(_number(v, "controller_epoch") for v in controller_epoch)
    else:
        earliest = latest = _number(controller_epoch, "controller_epoch")
    # the offsets the window allows are [host - latest, host - earliest]: take the one nearest zero
    if host < earliest:
        offset = host - earliest
    elif host > latest:
        offset = host - latest
    else:
        offset = 0.0
    offset = round(offset, 1)
    ok = limit <= 0 or abs(offset) <= limit
    if offset == 0:
        where = "clock in step with the control node"
    else:
        where = "clock %s s %s the control node" % (_fmt(abs(offset)), "ahead of" if offset > 0 else "behind")
    msg = where + (" (max %s s)" % _fmt(limit) if limit > 0 else " (not checked)")
    return {"offset": offset, "ok": ok, "msg": msg}


def _fmt(seconds):
    return ("%.1f" % seconds).rstrip("0").rstrip(".")


class FilterModule:
    def filters(self):
        return {"clock_skew": clock_skew}
