# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: removal_names
short_description: The site names C(nvflare_remove_clients) names
version_added: 1.5.0
positional: _input, federation
author:
  - edgefl maintainers (@edgefl)
description:
  - C(nvflare_remove_clients) names the clients (or relays) to remove by site name or by inventory host name, as a
    comma-separated string or a list. Returns their site names, each once, in the order given.
  - A name the provisioning workspace records (a participant, or one removed earlier) stays as given, also when an
    inventory host has that name (after hosts got a C(nvflare_site_name), the old names are what provisioning asks to
    confirm). Any other inventory host name of the federation becomes that host's C(nvflare_site_name); anything else
    stays as given, and provisioning refuses it when it is no participant of the workspace.
  - Provisioning (which refuses a name that is no participant of the workspace) and the lock-out read the same list.
options:
  _input:
    description: The value of C(nvflare_remove_clients).
    type: raw
    required: true
  federation:
    description: The output of the C(edgefl.nvflare.federation) filter.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Provision without the removed clients
  edgefl.nvflare.provision:
    remove: "{{ nvflare_remove_clients | default([]) | edgefl.nvflare.removal_names(groups | edgefl.nvflare.federation(hostvars)) }}"
"""

RETURN = r"""
_value:
  description: Site names.
  type: list
  elements: str
"""

import json

from ansible.errors import AnsibleFilterError


def _recorded(federation):
    """The names the workspace's provisioning state records (participants and removed ones); empty when there is
    none or it cannot be read (the provision module reports that)."""
    from ansible_collections.edgefl.nvflare.plugins.module_utils._provision import Layout

    if not federation.get("project_dir"):
        return set()  # no usable workspace
    try:
        with open(Layout(federation["workspace"], federation["project_name"]).state_file, encoding="utf-8") as f:
            state = json.load(f)
        return set(state.get("participants") or {}) | set(state.get("removed") or {})
    except (OSError, ValueError, AttributeError, TypeError):
        return set()


def removal_names(value, federation):
    if value is None or value == "":
        return []
    if isinstance(value, str):
        names = value.split(",")
    elif isinstance(value, (list, tuple)):
        names = list(value)
    else:
        raise AnsibleFilterError("nvflare_remove_clients must be site or inventory host names, comma-separated or a "
                                 "list, e.g. -e nvflare_remove_clients=site-3,site-4; got %r" % (value,))
    federation = federation if isinstance(federation, dict) else {}
    members = [federation.get("server") or {}] + list(federation.get("relays") or []) + \
        list(federation.get("clients") or [])
    by_host = dict((m.get("host"), m.get("site_name")) for m in members if m.get("host") and m.get("site_name"))
    recorded = _recorded(federation) if names else set()
    out = []
    for name in names:
        if not isinstance(name, str):
            raise AnsibleFilterError("nvflare_remove_clients: %r is not a name; give site or inventory host names, "
                                     "e.g. -e nvflare_remove_clients=site-3,site-4" % (name,))
        name = name.strip()
        site = name if name in recorded else by_host.get(name, name)
        if name and site not in out:
            out.append(site)
    return out


class FilterModule(object):
    def filters(self):
        return {"removal_names": removal_names}
