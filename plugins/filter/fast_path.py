# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: fast_path
short_description: Which hosts skip the roles of a run because nothing changed since their last converge
version_added: 1.4.0
positional: _input, groups, hostvars
author:
  - edgefl maintainers (@edgefl)
description:
  - Reads the probe results (M(edgefl.nvflare.host_state), registered as O(probe)) of the federation hosts and
    returns the hosts that skip the roles, the ones that do not, and why.
  - A host skips when its own probe is in sync and so is the probe of every server and relay host. When a server
    or relay takes the full path, every host does, so a client restarts when its server got a new certificate,
    as the service role decides in a full run.
  - A host with no probe result (unreachable, or the probe did not run) takes the full path.
  - A host whose variables need facts has no fingerprint at first; RV(_value.reprobe) lists the hosts to probe
    again once their facts are gathered, and the second probe (O(reprobe)) counts when it ran.
  - Used by C(playbooks/deploy.yml).
extends_documentation_fragment:
  - edgefl.nvflare.inventory_groups
options:
  _input:
    description: The hosts to decide for (the play's hosts).
    type: list
    elements: str
    required: true
  groups:
    description: The C(groups) magic variable.
    type: dict
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: dict
    required: true
  probe:
    description: The name the probe result is registered under.
    type: str
    default: __edgefl_host_probe
  reprobe:
    description: The name the second probe (after gathering facts) is registered under; it counts when it ran.
    type: str
    default: __edgefl_host_reprobe
"""

EXAMPLES = r"""
- name: Let the hosts in sync skip the roles
  ansible.builtin.group_by:
    key: nvflare_in_sync
  when: inventory_hostname in (ansible_play_hosts | edgefl.nvflare.fast_path(groups, hostvars)).skip
"""

RETURN = r"""
_value:
  description: The decision.
  type: dict
  contains:
    skip:
      description: The hosts that skip the roles.
      type: list
      elements: str
    full:
      description: The hosts that take the full path, each with its reasons.
      type: dict
    reprobe:
      description: The hosts to probe again after gathering their facts, because a variable of theirs needs facts
        (an address taken from C(ansible_facts)), or every host when a server's or relay's does.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError


def decide(hosts, probes, gatekeepers):
    """hosts: names; probes: host -> probe result (dict) or None; gatekeepers: the server and relay hosts.
    -> {"skip": [...], "full": {host: [reasons]}, "reprobe": [...]}"""
    needs_facts = [h for h in set(hosts) | set(gatekeepers)
                   if isinstance(probes.get(h), dict) and probes[h].get("needs_facts")]
    # a server or relay address taken from facts is part of every host's model
    if any(g in needs_facts for g in gatekeepers):
        reprobe = list(hosts)
    else:
        reprobe = [h for h in hosts if h in needs_facts]
    full = {}
    for host in hosts:
        probe = probes.get(host)
        if isinstance(probe, dict) and (probe.get("failed") or probe.get("unreachable")):
            full[host] = ["probe failed: %s" % probe.get("msg", "unreachable")]
        elif not isinstance(probe, dict) or probe.get("skipped") or "in_sync" not in probe:
            full[host] = ["not probed"]
        elif not probe["in_sync"]:
            full[host] = list(probe.get("reasons") or ["not in sync"])
    blocking = sorted(g for g in gatekeepers if g in full or not isinstance(probes.get(g), dict)
                      or not probes[g].get("in_sync"))
    skip = []
    for host in hosts:
        if host in full:
            continue
        if blocking:
            full[host] = ["%s takes the full path" % ", ".join(blocking)]
        else:
            skip.append(host)
    return {"skip": skip, "full": full, "reprobe": reprobe}


def effective(first, second):
    """The second probe (with facts) when it ran, else the first."""
    if not isinstance(second, dict) or second.get("skipped"):
        return first
    if "in_sync" in second or second.get("failed") or second.get("unreachable"):
        return second
    return first


def fast_path(hosts, groups, hostvars, probe="__edgefl_host_probe", reprobe="__edgefl_host_reprobe",
              server_group="nvflare_server", client_group="nvflare_clients", relay_group="nvflare_relays"):
    del client_group
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("edgefl.nvflare.fast_path: give a list of hosts, got %r" % (hosts,))
    gatekeepers = list(groups.get(server_group, [])) + list(groups.get(relay_group, []))
    probes = {}
    for host in set(hosts) | set(gatekeepers):
        try:
            probes[host] = effective(hostvars[host].get(probe), hostvars[host].get(reprobe))
        except KeyError:
            probes[host] = None
    return decide([str(h) for h in hosts], probes, gatekeepers)


class FilterModule:
    def filters(self):
        return {"fast_path": fast_path}
