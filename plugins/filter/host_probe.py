# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: host_probe
short_description: The fast path's probe of one host that counts, the first one or the one after its facts
version_added: 1.5.0
positional: _input, reprobe
author:
  - edgefl maintainers (@edgefl)
description:
  - C(playbooks/deploy.yml) probes every host against its record (M(edgefl.nvflare.host_state)); a host whose
    variables need facts is probed again once they are gathered. The second probe counts when it ran (it is not
    skipped and says whether the host is in sync, or failed); else the first one does.
  - The same rule P(edgefl.nvflare.fast_path#filter) decides with, for the play that records the converged hosts.
options:
  _input:
    description: The first probe's registered result (V(none) when it did not run).
    type: raw
    required: true
  reprobe:
    description: The second probe's registered result (V(none) when it did not run).
    type: raw
    default: null
"""

EXAMPLES = r"""
- name: Record what the roles left on the host
  edgefl.nvflare.host_state:
    state: record
    fingerprint: "{{ (__edgefl_host_probe | default(none) | edgefl.nvflare.host_probe(__edgefl_host_reprobe | default(none))).fingerprint | default('') }}"
    items: "{{ __edgefl_host_state_items }}"
"""

RETURN = r"""
_value:
  description: The probe result that counts, V({}) when neither ran.
  type: dict
"""

from ansible_collections.edgefl.nvflare.plugins.filter.fast_path import effective


def host_probe(probe, reprobe=None):
    """The probe that counts (fast_path.effective), {} when neither ran."""
    return effective(probe, reprobe) or {}


class FilterModule(object):
    def filters(self):
        return {"host_probe": host_probe}
