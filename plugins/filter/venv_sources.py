# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: venv_sources
short_description: Which host builds each golden venv with pip and which hosts unpack it
version_added: 1.4.0
positional: _input, hostvars
author:
  - edgefl maintainers (@edgefl)
description:
  - Used by the P(edgefl.nvflare.nvflare_venv#role) role. Hosts that share a golden venv (same platform, Python,
    venv path, wheelhouse and requirements) install it once. The first of them in play order builds the venv
    with pip; the control node keeps it packed; the others unpack it instead of running pip.
  - Takes the play's host names and C(hostvars), reads each host's C(__nvflare_venv_golden_fact) (set by the role)
    and returns the source of each host that needs an install. Hosts without that fact, or with nothing to install,
    are left out. A host alone in its group, with no packed venv on the control node yet, installs with pip and
    packs nothing.
options:
  _input:
    description: The host names of the play, in play order (C(ansible_play_hosts)).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Choose which host builds each golden venv
  ansible.builtin.set_fact:
    __nvflare_venv_sources: "{{ ansible_play_hosts | edgefl.nvflare.venv_sources(hostvars) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: >-
    Host name to C(pip) (install with pip: not eligible for a golden venv), C(build) (install with pip, then pack
    the venv for the others) or C(unpack) (unpack the golden venv, packed earlier or by this run's builder).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

FACT = "__nvflare_venv_golden_fact"


def _true(value):
    return boolean(value, strict=False) if value is not None else False


def venv_sources(hosts, hostvars):
    """{host: 'pip' | 'build' | 'unpack'} for the hosts whose golden fact says they need an install.

    A fact is {'needs_install': bool, 'eligible': bool, 'name': str, 'cached': bool}: eligible hosts of one name
    unpack when the control node has the archive (cached); otherwise the first of them builds it, when there are
    at least two.
    """
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("venv_sources expects the list of play hosts, got %s" % type(hosts).__name__)
    facts = {}
    for host in hosts:
        fact = hostvars[host].get(FACT) if host in hostvars else None
        if isinstance(fact, dict) and _true(fact.get("needs_install")):
            facts[host] = fact
    names = [str(f.get("name") or "").strip() if _true(f.get("eligible")) else "" for f in facts.values()]
    sources, builders = {}, {}
    for (host, fact), name in zip(facts.items(), names):
        if not name:
            sources[host] = "pip"
        elif _true(fact.get("cached")) or name in builders:
            sources[host] = "unpack"
        elif names.count(name) < 2:
            # alone in its group and nothing packed yet: packing would cost more than it saves in this run
            sources[host] = "pip"
        else:
            builders[name] = host
            sources[host] = "build"
    return sources


class FilterModule:
    def filters(self):
        return {"venv_sources": venv_sources}
