# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: participants
short_description: Build the edgefl.nvflare.provision participant spec from the inventory
version_added: 0.1.0
positional: _input, hostvars
author:
  - edgefl maintainers (@edgefl)
description:
  - Turns the inventory (groups and host variables) into the O(edgefl.nvflare.provision#module:server),
    O(edgefl.nvflare.provision#module:clients) and O(edgefl.nvflare.provision#module:admins) input of
    M(edgefl.nvflare.provision), so a playbook needs no hand-written C(project.yml).
  - The server is the single host of the O(server_group) group. Its name is its C(nvflare_site_name)
    (default C(inventory_hostname)). Its C(ansible_host) is added to the certificate host names when
    it is an IP address.
  - Clients are the hosts of O(client_group), in inventory order, with C(nvflare_site_name),
    C(nvflare_org) and C(ansible_host).
  - Federation-wide settings come from the server host's variables (C(group_vars/all)) -
    C(nvflare_project_name) (default V(edgefl)), C(nvflare_org) (default V(nvidia)),
    C(nvflare_fed_learn_port), C(nvflare_admin_port) (passed only when set, so the module's defaults and
    its shared-port rule apply) and C(nvflare_admins) (default one V(admin@nvidia.com) project admin).
  - Fails with a message naming the group or variable to fix when the server group has zero or several
    hosts, or a host or admin entry is malformed.
options:
  _input:
    description: The C(groups) magic variable.
    type: dict
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: raw
    required: true
  server_group:
    description: Inventory group holding the one server.
    type: str
    default: nvflare_server
  client_group:
    description: Inventory group holding the clients.
    type: str
    default: nvflare_clients
"""

EXAMPLES = r"""
- name: Provision from the inventory alone
  edgefl.nvflare.provision:
    workspace: "{{ nvflare_workspace }}"
    project_name: "{{ __spec.project_name }}"
    org: "{{ __spec.org }}"
    server: "{{ __spec.server }}"
    clients: "{{ __spec.clients }}"
    admins: "{{ __spec.admins }}"
  vars:
    __spec: "{{ groups | edgefl.nvflare.participants(hostvars) }}"
  delegate_to: localhost
  run_once: true

- name: Other group names
  ansible.builtin.debug:
    msg: "{{ groups | edgefl.nvflare.participants(hostvars, server_group='fl_server', client_group='jetsons') }}"
"""

RETURN = r"""
_value:
  description: Input for M(edgefl.nvflare.provision).
  type: dict
  contains:
    project_name:
      description: C(nvflare_project_name), default V(edgefl).
      type: str
    org:
      description: C(nvflare_org) of the server host, default V(nvidia).
      type: str
    server:
      description: The server (C(name), C(org), C(host), C(host_names), and C(fed_learn_port)/C(admin_port) when set).
      type: dict
    clients:
      description: One C(name)/C(org)/C(host) entry per client host.
      type: list
      elements: dict
    admins:
      description: C(name)/C(org)/C(role) entries from C(nvflare_admins).
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.module_utils._provision_spec import (
    DEFAULT_ORG,
    SpecError,
    check_address,
)

DEFAULT_PROJECT = "edgefl"
DEFAULT_ADMINS = [{"name": "admin@nvidia.com", "org": "nvidia", "role": "project_admin"}]


def _hv(hostvars, host):
    try:
        return hostvars[host]
    except KeyError:
        raise AnsibleFilterError("edgefl.nvflare.participants: host %r is in a group but not in hostvars" % host)


def _get(hv, key, default=None):
    try:
        value = hv[key]
    except KeyError:
        return default
    return default if value is None else value


def _is_ip(value):
    try:
        import netaddr
    except ImportError:
        raise AnsibleFilterError("edgefl.nvflare.participants needs the Python library netaddr on the control node: "
                                 "pip install netaddr")
    return bool(netaddr.valid_ipv4(value, netaddr.INET_PTON) or netaddr.valid_ipv6(value))


def participants(groups, hostvars, server_group="nvflare_server", client_group="nvflare_clients"):
    """Inventory groups + hostvars -> provision module input."""
    if not isinstance(groups, dict):
        raise AnsibleFilterError("edgefl.nvflare.participants: its input must be the 'groups' variable, got %s"
                                 % type(groups).__name__)
    servers = list(groups.get(server_group) or [])
    if len(servers) != 1:
        raise AnsibleFilterError(
            "edgefl.nvflare.participants: inventory group '%s' must hold exactly one host (the NVFLARE server), "
            "it holds %d%s; put one host in it" % (server_group, len(servers),
                                                   (": " + ", ".join(servers)) if servers else ""))
    server_host = servers[0]
    shv = _hv(hostvars, server_host)
    org = _get(shv, "nvflare_org", DEFAULT_ORG)
    server = {"name": str(_get(shv, "nvflare_site_name", server_host)), "org": org}
    address = _get(shv, "ansible_host")
    if address:
        address = str(address)
        try:
            check_address("hostvars[%s].ansible_host" % server_host, address)
        except SpecError as exc:
            raise AnsibleFilterError("edgefl.nvflare.participants: %s" % exc.msg)
        server["host"] = address
        if _is_ip(address):
            server["host_names"] = [address]
    for var, key in (("nvflare_fed_learn_port", "fed_learn_port"), ("nvflare_admin_port", "admin_port")):
        value = _get(shv, var)
        if value is not None:
            try:
                server[key] = int(value)
            except (TypeError, ValueError):
                raise AnsibleFilterError("edgefl.nvflare.participants: %s must be a port number, got %r" % (var, value))
    clients = []
    for host in groups.get(client_group) or []:
        if host == server_host:
            raise AnsibleFilterError("edgefl.nvflare.participants: host %r is in both '%s' and '%s'; a host is "
                                     "either the server or a client" % (host, server_group, client_group))
        hv = _hv(hostvars, host)
        entry = {"name": str(_get(hv, "nvflare_site_name", host)), "org": _get(hv, "nvflare_org", org)}
        address = _get(hv, "ansible_host")
        if address:
            entry["host"] = str(address)
        clients.append(entry)
    admins_in = _get(shv, "nvflare_admins", DEFAULT_ADMINS)
    if not isinstance(admins_in, list):
        raise AnsibleFilterError("edgefl.nvflare.participants: nvflare_admins must be a list of "
                                 "{name, org, role} entries, got %s" % type(admins_in).__name__)
    admins = []
    for i, adm in enumerate(admins_in):
        if not isinstance(adm, dict) or not adm.get("name"):
            raise AnsibleFilterError("edgefl.nvflare.participants: nvflare_admins[%d] must be a mapping with at "
                                     "least 'name' (an e-mail address), got %r" % (i, adm))
        admins.append({"name": str(adm["name"]), "org": adm.get("org") or org,
                       "role": adm.get("role") or "project_admin"})
    return {
        "project_name": str(_get(shv, "nvflare_project_name", DEFAULT_PROJECT)),
        "org": org,
        "server": server,
        "clients": clients,
        "admins": admins,
    }


class FilterModule:
    def filters(self):
        return {"participants": participants}
