# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: site
short_description: One host's place in the NVFLARE federation, from the inventory
version_added: 0.2.0
positional: _input, groups, hostvars
author:
  - edgefl maintainers (@edgefl)
description:
  - The per-host model every edgefl.nvflare role default and playbook reads, so that server-ness, site name,
    org, address, kit directory, unit and ports are computed in one place.
  - The host of group O(server_group) is the V(server), a host of group O(relay_group) a V(relay); every other
    host is a V(client) (a host outside the groups too, as a role applied on its own treats it).
  - A client or relay with C(nvflare_relay) (the inventory name of a relay) connects to that relay, else to the
    server; relays chain. An unknown relay, a relay that points at itself, a cycle, a relay that is also the
    server or a client, and two relays on one port of one address fail with the fix.
  - C(site_name) is C(nvflare_site_name), else the inventory name. C(org) is C(nvflare_org), else the
    federation-wide C(nvflare_org) (default V(nvidia)).
  - C(address) is C(nvflare_address), else C(ansible_host), else V(null). A value that cannot be resolved where it
    is read (for example taken from facts that were not gathered yet) counts as unset.
  - Federation-wide settings (C(nvflare_project_name), C(nvflare_workspace), C(nvflare_fed_learn_port),
    C(nvflare_server_admin_port)) are read from the server host, that is from C(group_vars/all).
  - The old names C(nvflare_hosts_address), C(nvflare_admin_port) and C(nvflare_site_wait_timeout) are still read,
    with a deprecation warning; they go away in 2.0.0.
extends_documentation_fragment:
  - edgefl.nvflare.inventory_groups
options:
  _input:
    description: The host, usually C(inventory_hostname).
    type: str
    required: true
  groups:
    description: The C(groups) magic variable.
    type: dict
    required: true
  site_name:
    description: Use this site name instead of the inventory's (a role variable set in a play); C(kit_dir)
      follows it.
    type: str
  role:
    description: Use this role instead of the inventory's; C(unit) follows it.
    type: str
    choices: [server, client, relay]
"""

EXAMPLES = r"""
- name: Show this host's place in the federation
  ansible.builtin.debug:
    msg: "{{ inventory_hostname | edgefl.nvflare.site(groups, hostvars) }}"

- name: Use it in a role default
  ansible.builtin.set_fact:
    my_unit: "{{ (inventory_hostname | edgefl.nvflare.site(groups, hostvars)).unit }}"
"""

RETURN = r"""
_value:
  description: The host's model.
  type: dict
  contains:
    host:
      description: The inventory name.
      type: str
    role:
      description: V(server), V(relay) or V(client).
      type: str
    member:
      description: Whether the host is in the server, a relay or the client group (O(server_group), O(relay_group),
        O(client_group)).
      type: bool
    site_name:
      description: The NVFLARE participant name.
      type: str
    org:
      description: The participant's organisation.
      type: str
    address:
      description: The address other participants use for this host, or V(null).
      type: str
    kit_dir:
      description: The host's startup kit on the control node, C(<nvflare_workspace>/<project>/kits/<site_name>);
        empty when C(nvflare_workspace) is not set.
      type: str
    root_ca_files:
      description: The control-node files (paths and glob patterns) of every root CA provisioning gave this
        participant - its current kit's C(rootCA.pem), C(state/cert.json), its kit in each C(prod_NN), the root CAs a
        rotation retired (C(state/retired/*/rootCA.pem)); empty when C(nvflare_workspace) is not set. The kit owner
        check of C(deploy.yml) and C(add_client.yml) compares the host's kit with them.
      type: list
      elements: str
    host_paths:
      description: Where the roles put this participant's NVFLARE on its host, as the inventory sets it or the roles'
        defaults - C(root) (C(nvflare_service_root), V(/var/lib/nvflare)), C(workspace) (the kit on the host,
        C(nvflare_service_workspace), default C(<root>/<site_name>)), C(storage) (the job store,
        C(nvflare_service_storage_dir), default C(<root>/storage)), C(venv) (C(nvflare_service_venv_path), else
        C(nvflare_venv_path), V(/opt/nvflare/venv)) and C(user) (C(nvflare_service_user), else C(nvflare_venv_user),
        V(nvflare)). The playbooks that read a host without the roles (C(lockout.yml), C(doctor.yml), the kit owner
        check) use it. A value that reads one of these role variables left to its default (a C(nvflare_service_workspace)
        of V({{ nvflare_service_root }}/fl), say) is resolved with the default, as the role would; one that reads
        anything else this filter cannot resolve counts as unset.
      type: dict
    unit:
      description: The systemd unit, C(nvflare_service_unit_name) when the inventory sets it, else
        C(nvflare-<role>.service).
      type: str
    ports:
      description: The server's C(fed_learn) and C(admin) ports; on a relay also C(relay), the port it listens on
        (C(nvflare_relay_port), default V(8102)).
      type: dict
    project_name:
      description: C(nvflare_project_name), default V(edgefl).
      type: str
    workspace:
      description: C(nvflare_workspace), the control-node provisioning workspace.
      type: str
    server:
      description: The server's C(host), C(site_name), C(org) and C(address), or V(null) without a server group.
      type: dict
    parent:
      description: What a client or relay dials - the C(host), C(site_name), C(org), C(address), C(role)
        (V(relay) or V(server)) and C(port) of its relay, else of the server; V(null) on the server.
      type: dict
    path:
      description: Site names from this host up to the server, for example V([site-1, relay-1, server1]).
      type: list
      elements: str
"""

import copy
import multiprocessing

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.plugin_utils._model import (
    Inventory,
    ModelError,
)


def report_deprecations(inventory):
    """Turn the deprecated names an Inventory read into Ansible deprecation warnings (shown once each)."""
    if not inventory.deprecations:
        return
    from ansible.utils.display import Display

    for old, new in sorted({(o, n) for o, n, _h in inventory.deprecations}):
        Display().deprecated(
            "The inventory variable %s is deprecated: rename it to %s (same meaning)" % (old, new),
            version="2.0.0",  # plugin_utils._model.REMOVED_IN (a literal: sanity checks it)
            collection_name="edgefl.nvflare",
        )


# Results of the model filters in this process, when it is one of Ansible's worker processes. A worker is
# forked for one task on one host: the inventory and every host's variables stay the same while it lives, but
# the filters run again for every template that reads them (a role's vars, defaults, argument specs, each
# `when`). Each run reads every host's variables through the variable manager, so a federation-wide model in
# every task of every host grew with the square of the fleet (issue #15). The controller's own process (no
# parent process) never memoizes: there, set_fact and add_host change the variables between tasks.
_MEMO = {}


def _memo():
    return _MEMO if multiprocessing.parent_process() is not None else None


def run(name, func, groups, hostvars, server_group, client_group, relay_group="nvflare_relays", key=None):
    """func(Inventory) with ModelError as a filter error. ``key`` (hashable: the filter's own arguments) lets a
    worker process reuse the result of an earlier call with the same arguments; None computes it every time."""
    memo = _memo() if key is not None else None
    if memo is not None:
        key = (name, server_group, client_group, relay_group) + tuple(key)
        if key in memo:
            return copy.deepcopy(memo[key])
    inventory = Inventory(groups, hostvars, server_group, client_group, relay_group)
    try:
        result = func(inventory)
    except ModelError as exc:
        raise AnsibleFilterError("edgefl.nvflare.%s: %s" % (name, exc))
    report_deprecations(inventory)
    if memo is not None:
        memo[key] = copy.deepcopy(result)
    return result


def site(host, groups, hostvars, site_name=None, role=None, server_group="nvflare_server",
         client_group="nvflare_clients", relay_group="nvflare_relays"):
    """inventory_hostname -> this host's model."""
    return run("site", lambda inv: inv.site(str(host), site_name, role), groups, hostvars, server_group, client_group,
               relay_group, key=(str(host), _text(site_name), _text(role)))


def _text(value):
    return None if value is None else str(value)


class FilterModule:
    def filters(self):
        return {"site": site}
