# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: federation
short_description: The whole NVFLARE federation (server, clients, admin) from the inventory
version_added: 0.2.0
positional: _input, hostvars
author:
  - edgefl maintainers (@edgefl)
description:
  - The federation-wide view of the model behind P(edgefl.nvflare.site#filter), for plays on the control node
    (the admin kit, waiting for clients, status, uninstall).
  - Fails with a message naming the group or variable to fix when the server group holds several hosts, a host
    is in both groups, two hosts share a site name, or a port or admin entry is malformed.
extends_documentation_fragment:
  - edgefl.nvflare.inventory_groups
options:
  _input:
    description: The C(groups) magic variable.
    type: dict
    required: true
  host:
    description: The host whose own variables (C(nvflare_admin_dest)) apply, usually C(inventory_hostname).
    type: str
  admin:
    description: The admin for RV(admin); default the first of C(nvflare_admins).
    type: str
"""

EXAMPLES = r"""
- name: Wait for the clients the inventory lists
  edgefl.nvflare.status:
    admin_kit: "{{ __fed.admin.dest }}"
    expected_clients: "{{ __fed.client_names }}"
  vars:
    __fed: "{{ groups | edgefl.nvflare.federation(hostvars, host=inventory_hostname) }}"
"""

RETURN = r"""
_value:
  description: The federation.
  type: dict
  contains:
    project_name:
      description: C(nvflare_project_name), default V(edgefl).
      type: str
    org:
      description: The federation-wide C(nvflare_org), default V(nvidia).
      type: str
    workspace:
      description: C(nvflare_workspace).
      type: str
    run_lock:
      description:
        - The run lock of the federation (M(edgefl.nvflare.run_lock)),
          C(<workspace>/.edgefl-run-<project_name>.lock); empty without an absolute workspace.
      type: str
    project_dir:
      description:
        - The provisioning project, C(<workspace>/<project_name>), which holds the root CA's state and the kits; empty
          without an absolute workspace.
      type: str
    upgrade_keep:
      description:
        - Where C(playbooks/upgrade.yml) keeps the provisioning project of the old version,
          C(<workspace>/.<project_name>.upgrade-previous), until it has verified the fleet or rolled it back. While
          it exists an upgrade did not finish, and the playbooks that deploy or push kits stop. Empty without an
          absolute workspace.
      type: str
    upgrade_rollback:
      description:
        - Where a rollback of C(playbooks/upgrade.yml) moves the new version's provisioning project when it puts
          the old one back, C(<upgrade_keep>.failed). It stays until every host was rolled back; while it exists a
          rollback did not finish, and the playbooks that deploy or push kits stop. Empty without an absolute
          workspace.
      type: str
    venv_versions:
      description:
        - The NVFLARE release each host's venv runs, as the C(nvflare_venv) role reads it (C(nvflare_venv_version),
          else the host's C(nvflare_version), else V(2.9.0)), without repeats. C(playbooks/prune_cache.yml) keeps
          their cached wheelhouses and golden venvs.
      type: list
      elements: str
    problems:
      description:
        - What a playbook that changes the federation refuses before it touches a host, as messages
          (C(playbooks/run_lock.yml) fails with them). These are no host in C(nvflare_server), an
          C(nvflare_workspace) that is not set or is a relative path, and a server, client or relay group that is
          empty or missing while a group of a near name (C(nvflare_client), C(nvflare-clients)) has hosts. Also a
          bad C(nvflare_version), C(nvflare_control_python), quorum, rollout batch, whole-number setting or port
          pair, and names NVFLARE refuses. Also two hosts on one machine (one SSH address and port, or one container
          target of a podman or docker connection), and two site names that differ only in case. Also a workspace that is a system directory, a port with a
          fraction, a server port another host sets differently, a server or relay port equal to its SSH port, an
          address templated from a variable defined nowhere, and an inventory with no hosts at all.
        - When the model finds none of these, what the M(edgefl.nvflare.provision) module would refuse in the input
          C(provision.yml) gives it, for C(nvflare_version) (default V(2.9.0)), such as relays before NVFLARE 2.6.
        - Empty when there is none; other inventory mistakes make the filter fail.
      type: list
      elements: str
    deploy_problems:
      description:
        - What only a playbook that deploys the roles refuses (C(site.yml), C(deploy.yml), C(add_client.yml),
          C(upgrade.yml)), as messages C(playbooks/run_lock.yml) fails with - an inventory with a server and no
          client, and two or more hosts with C(ansible_connection=local) (each is the control node; the roles deploy
          one participant per machine). Empty when there is none.
      type: list
      elements: str
    ports:
      description: The server's C(fed_learn) and C(admin) ports.
      type: dict
    wait_timeout:
      description: C(nvflare_wait_timeout) in seconds, default 180.
      type: int
    server:
      description: The server's model (see P(edgefl.nvflare.site#filter)), or V(null).
      type: dict
    clients:
      description: Each client's model, in inventory order.
      type: list
      elements: dict
    relays:
      description: Each relay's model, in inventory order (empty for a flat federation).
      type: list
      elements: dict
    client_names:
      description: The clients' site names, in inventory order.
      type: list
      elements: str
    admins:
      description: C(name)/C(org)/C(role) entries from C(nvflare_admins).
      type: list
      elements: dict
    admin:
      description: The admin the playbooks act as (O(admin), else the first of C(nvflare_admins)) with C(kit_dir)
        (its kit in the workspace) and C(dest) (where the C(edgefl.nvflare.nvflare_admin) role installs it,
        C(nvflare_admin_dest) of O(host), else C(<nvflare_workspace>/admin/<name>)).
      type: dict
"""

from ansible_collections.edgefl.nvflare.plugins.filter.participants import provision_problem
from ansible_collections.edgefl.nvflare.plugins.filter.site import run, _text


def _model(inv, host, admin):
    """The model, with what provisioning would refuse among its problems once the model itself has none."""
    fed = inv.federation(host, admin)
    if not fed["problems"]:
        problem = provision_problem(inv, host)
        if problem:
            fed["problems"] = [problem]
    return fed


def federation(groups, hostvars, host=None, admin=None, server_group="nvflare_server", client_group="nvflare_clients",
               relay_group="nvflare_relays"):
    """groups -> the federation model."""
    return run("federation", lambda inv: _model(inv, host, admin), groups, hostvars, server_group, client_group,
               relay_group, key=(_text(host), _text(admin)))


class FilterModule:
    def filters(self):
        return {"federation": federation}
