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
  - Reads the same per-host model as the roles (P(edgefl.nvflare.site#filter)), so the names and the address in
    the kits are the ones C(/etc/hosts) and the admin kit use.
  - The server is the single host of the O(server_group) group. Its name is its C(nvflare_site_name)
    (default C(inventory_hostname)). Its address (C(nvflare_address), else C(ansible_host)) is the host clients
    dial and is added to the certificate host names when it is an IP address.
  - Clients are the hosts of O(client_group), in inventory order, with C(nvflare_site_name),
    C(nvflare_org) and their address. A client with C(nvflare_relay) gets C(connect_to), the site name of
    that relay.
  - Relays are the hosts of O(relay_group), in inventory order, with C(nvflare_site_name), C(nvflare_org),
    their address (C(host), when known), C(nvflare_relay_port) (C(port), default V(8102)) and, for a relay
    behind another relay (C(nvflare_relay)), C(connect_to). A flat inventory gives an empty list.
  - Relay errors are the model's (P(edgefl.nvflare.site#filter)), raised before provisioning - an unknown
    relay, a cycle, a relay pointing at itself or also in another group, two relays on one address and port,
    two hosts with one site name.
  - Federation-wide settings come from the server host's variables (C(group_vars/all)) -
    C(nvflare_project_name) (default V(edgefl)), C(nvflare_org) (default V(nvidia)),
    C(nvflare_fed_learn_port), C(nvflare_server_admin_port) (passed only when set, so the module's defaults and
    its shared-port rule apply) and C(nvflare_admins) (default one V(admin@nvidia.com) project admin).
  - Fails with a message naming the group or variable to fix when the server group has zero or several
    hosts, or a host or admin entry is malformed.
extends_documentation_fragment:
  - edgefl.nvflare.inventory_groups
options:
  _input:
    description: The C(groups) magic variable.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Provision from the inventory alone
  edgefl.nvflare.provision:
    workspace: "{{ nvflare_workspace }}"
    project_name: "{{ __spec.project_name }}"
    org: "{{ __spec.org }}"
    server: "{{ __spec.server }}"
    relays: "{{ __spec.relays }}"
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
    relays:
      description:
        - One C(name)/C(org)/C(port) entry per relay host, with C(host) when the relay has an address and
          C(connect_to) (the parent relay's site name) when it connects to another relay.
        - Empty for a flat inventory.
      type: list
      elements: dict
      version_added: 0.2.0
    clients:
      description:
        - One C(name)/C(org)/C(host) entry per client host.
        - C(connect_to) is the site name of the relay the client connects to; absent when it connects to the server.
      type: list
      elements: dict
    admins:
      description: C(name)/C(org)/C(role) entries from C(nvflare_admins).
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.site import run
from ansible_collections.edgefl.nvflare.plugins.module_utils._provision_spec import (
    SpecError,
    check_address,
    check_version_support,
    from_options,
)
from ansible_collections.edgefl.nvflare.plugins.plugin_utils._model import DEFAULT_VERSION, ModelError, release_error


def _is_ip(value):
    try:
        import netaddr
    except ImportError:
        raise AnsibleFilterError("edgefl.nvflare.participants needs the Python library netaddr on the control node: "
                                 "pip install netaddr")
    return bool(netaddr.valid_ipv4(value, netaddr.INET_PTON) or netaddr.valid_ipv6(value))


class _AddressError(ModelError):
    """The server's address is no address: a mistake of the inventory, not a layout the model cannot read."""


def _spec(inv):
    """The provision module's input, from the same model the roles read (plugin_utils/_model.py)."""
    server_host = inv.server_host(required=True)
    server_site = inv.site(server_host)
    server = {"name": server_site["site_name"], "org": server_site["org"]}
    address = server_site["address"]
    if address:
        try:
            check_address("hostvars[%s].nvflare_address (else ansible_host)" % server_host, address)
        except SpecError as exc:
            raise _AddressError(exc.msg)
        server["host"] = address
        if _is_ip(address):
            server["host_names"] = [address]
    # passed only when the inventory sets them, so the module's defaults and its shared-port rule apply
    ports = inv.ports(server_host)
    if ports["fed_learn_set"]:
        server["fed_learn_port"] = ports["fed_learn"]
    if ports["admin_set"]:
        server["admin_port"] = ports["admin"]
    relay_hosts = inv.relay_hosts()
    inv.check_relay_endpoints()

    def _entry(host):
        inv.chain(host)  # refuses an unknown relay, a cycle, a relay pointing at itself
        peer = inv.peer(host)
        entry = {"name": peer["site_name"], "org": peer["org"]}
        if peer["address"]:
            entry["host"] = peer["address"]
        upstream = inv.upstream(host)
        if upstream is not None:
            entry["connect_to"] = inv.site_name(upstream)
        return entry

    relays = []
    for host in relay_hosts:
        entry = _entry(host)
        entry["port"] = inv.relay_port(host)
        relays.append(entry)
    clients = [_entry(host) for host in inv.client_hosts()]
    names = {server["name"]: server_host}
    for host, entry in zip(relay_hosts + inv.client_hosts(), relays + clients):
        if entry["name"] in names:
            raise ModelError("hosts %r and %r have the same site name %r; nvflare_site_name must be unique"
                             % (names[entry["name"]], host, entry["name"]))
        names[entry["name"]] = host
    return {
        "project_name": inv.project_name(server_host),
        "org": inv.default_org(server_host),
        "server": server,
        "relays": relays,
        "clients": clients,
        "admins": inv.admins(server_host),
    }


def provision_problem(inv, host=None):
    """What the provision module would refuse in the input provision.yml builds from this inventory, for the NVFLARE
    version it provisions (nvflare_version, else 2.9.0), as one message; '' when it accepts it. The same functions as
    the module (from_options, check_version_support), without NVFLARE: the first play (playbooks/run_lock.yml) stops
    on it before the bootstrap, where provisioning would stop only after it - relays before NVFLARE 2.6, one shared
    server port before 2.7. Left to the model: a layout it cannot read, and a version that is no release."""
    version = inv._setting(host, "nvflare_version")  # pylint: disable=protected-access
    version = DEFAULT_VERSION if version is None else str(version)
    if release_error(version):
        return ""
    try:
        project, labels, _hosts = from_options(_spec(inv), version)
        check_version_support(project, labels, version)
    except _AddressError as exc:
        return str(exc)
    except ModelError:
        return ""
    except SpecError as exc:
        return "provisioning for NVFLARE %s would refuse this inventory: %s" % (version, exc.msg)
    return ""


def participants(groups, hostvars, server_group="nvflare_server", client_group="nvflare_clients",
                 relay_group="nvflare_relays"):
    """Inventory groups + hostvars -> provision module input."""
    if not isinstance(groups, dict):
        raise AnsibleFilterError("edgefl.nvflare.participants: its input must be the 'groups' variable, got %s"
                                 % type(groups).__name__)
    return run("participants", _spec, groups, hostvars, server_group, client_group, relay_group, key=())


class FilterModule:
    def filters(self):
        return {"participants": participants}
