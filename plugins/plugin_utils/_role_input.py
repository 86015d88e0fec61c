# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles' input rules that need no facts and no host, in one place (edgefl.nvflare.role_args).

Each role's tasks/checks.yml runs them through M(edgefl.nvflare.role_args) on the role's whole input (its defaults
included), and the first play of site.yml, deploy.yml, add_client.yml and upgrade.yml runs them on what the
inventory and the command line set for every host, before the bootstrap or provisioning changes anything. A rule looks only at the
variables in ``values``: a variable that is not there is not checked (its default is known to be good, or the
role's own run checks it). Messages name the variable and how to fix it; the unit environment's never hold a value
(it may be a token).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping

from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.edgefl.nvflare.plugins.filter.port_errors import port_errors
from ansible_collections.edgefl.nvflare.plugins.plugin_utils._model import over_ssh, release_error

_NAME = re.compile(r"^[a-z_][a-z0-9_-]*$")
_SITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_UNIT = re.compile(r"^[A-Za-z0-9@._-]+\.service$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _is_ip(value):
    """ansible.utils.ip's rule: an address or a network (host bits clear), given as text."""
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_network(value.strip())
    except ValueError:
        return False
    return True


def _network_hint(value):
    """The bad entry, with the network it names when only its host bits are set (10.0.0.1/8: 10.0.0.0/8)."""
    text = str(value)
    if isinstance(value, str):
        try:
            return "%s (host bits set: the network is %s)" % (text, ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            pass
    return text


def _absolute(value):
    return isinstance(value, str) and value.startswith("/") and len(value) > 1


def _whole_positive(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, str) and value.strip().isdigit() and int(value.strip()) > 0


def _ports(values, names, none_is=None):
    """The port_errors filter's messages for the NAMES set in VALUES; None stands for NONE_IS when it is given."""
    ports = {}
    for name in names:
        if name in values:
            ports[name] = none_is if values[name] is None and none_is is not None else values[name]
    return port_errors(ports)


def firewall(values, relay=False, connection="ssh", **_context):
    """nvflare_firewall: its ports, its source networks (the relay's only on a relay) and the SSH rule (CONNECTION:
    the host's ansible_connection)."""
    found = _ports(values, ("nvflare_firewall_fed_learn_port", "nvflare_firewall_admin_port",
                            "nvflare_firewall_relay_port"))
    found += _ports(values, ("nvflare_firewall_ssh_port",), none_is=22)
    names = ["nvflare_firewall_source_cidrs", "nvflare_firewall_ssh_source_cidrs"]
    if relay:
        names.append("nvflare_firewall_relay_source_cidrs")
    for name in names:
        value = values.get(name)
        bad = [item for item in value if not _is_ip(item)] if isinstance(value, (list, tuple)) else []
        if bad:
            found.append("%s must list IP networks in CIDR notation (e.g. 192.168.1.0/24) or addresses; invalid: %s"
                         % (name, ", ".join(_network_hint(item) for item in bad)))
    if not boolean(values.get("nvflare_firewall_allow_ssh", True), strict=False) and over_ssh(connection):
        found.append("nvflare_firewall_allow_ssh=false while Ansible reaches this host over SSH: enabling ufw would "
                     "lock you out. Keep nvflare_firewall_allow_ssh=true")
    return found


def environment_error(env):
    """What is wrong with nvflare_service_environment (a mapping): its names, then the names whose values hold a
    newline, carriage return, NUL or another control character; '' when it is good. Never a value."""
    bad_names = [str(k) for k in env if not _ENV_NAME.match(str(k))]
    bad_values = [str(k) for k, v in env.items() if _CONTROL.search(str(v))]
    if not bad_names and not bad_values:
        return ""
    text = "invalid nvflare_service_environment: "
    if bad_names:
        text += "names must match ^[A-Za-z_][A-Za-z0-9_]*$, got %s; " % ", ".join(json.dumps(n) for n in bad_names)
    if bad_values:
        text += ("the values of %s hold a newline, carriage return, NUL or another control character; "
                 % ", ".join(json.dumps(n) for n in bad_values))
    return text + "nothing was changed"


def service(values, **_context):
    """nvflare_service: its role, names, paths, ports, wait and unit environment."""
    found = []
    checks = (
        ("nvflare_service_role", lambda v: v in ("server", "client", "relay"), "server, client or relay"),
        ("nvflare_service_site_name", lambda v: isinstance(v, str) and bool(_SITE.match(v)),
         "a site name: letters, digits, '.', '_' and '-', starting with a letter or digit"),
        ("nvflare_service_kit_src", lambda v: isinstance(v, str) and v.strip().startswith("/"),
         "an absolute control-node path (set nvflare_workspace to an absolute directory)"),
        # the default workspace and storage directory are under it, and the storage may not be under /tmp
        ("nvflare_service_root",
         lambda v: _absolute(v) and not re.match(r"^/tmp(/|$)", v), "an absolute path, not under /tmp"),
        ("nvflare_service_workspace", _absolute, "an absolute path"),
        ("nvflare_service_storage_dir",
         lambda v: _absolute(v) and not re.match(r"^/tmp(/|$)", v), "an absolute path, not under /tmp"),
        ("nvflare_service_unit_name", lambda v: isinstance(v, str) and bool(_UNIT.match(v)),
         "a systemd unit name ending in .service"),
        ("nvflare_service_wait_timeout", _whole_positive, "a whole number of seconds, 1 or more"),
        ("nvflare_service_user", lambda v: v != "root",
         "an unprivileged account (the unit runs NVFLARE as it; nvflare_venv_user, the default, is one)"),
    )
    for name, good, what in checks:
        if name in values and not good(values[name]):
            found.append("%s must be %s, got %r" % (name, what, values[name]))
    found += _group_errors(values, "nvflare_service_group")
    found += _ports(values, ("nvflare_service_fed_learn_port", "nvflare_service_admin_port",
                             "nvflare_service_relay_port"))
    env = values.get("nvflare_service_environment")
    if isinstance(env, Mapping):
        error = environment_error(env)
        if error:
            found.append(error)
    return found


# Groups whose members are root in all but name: the service account runs the jobs' code (custom code included), so
# none of them may be its primary group
PRIVILEGED_GROUPS = ("root", "sudo", "wheel", "admin", "docker", "lxd", "disk", "shadow")


def _group_errors(values, name):
    if values.get(name) in PRIVILEGED_GROUPS:
        groups = ", ".join(PRIVILEGED_GROUPS)
        return ["%s must not be a group that grants root (%s), got %r: NVFLARE runs the jobs' code as that account; "
                "use a dedicated group (nvflare, the default, is created)" % (name, groups, values[name])]
    return []


def venv(values, exists=os.path.exists, remote_user="", **_context):
    """nvflare_venv: its version, paths, user and group names and local wheels (which must exist on the control
    node). The user is neither root nor the account Ansible logs in with (REMOTE_USER): the role makes the user's
    shell nologin and sets its home and group; the group is none of PRIVILEGED_GROUPS. On the host, the probe also
    refuses any other existing account the role did not create (files/venv_probe.py foreign_account)."""
    found = []
    user = values.get("nvflare_venv_user")
    if user == "root":
        found.append("nvflare_venv_user must not be root, got 'root': NVFLARE runs as an unprivileged account; use a "
                     "dedicated name (nvflare, the default, is created)")
    elif user and remote_user and user == remote_user:
        found.append("nvflare_venv_user %r is the account Ansible logs in with (ansible_user): the role would set its "
                     "shell to nologin and its home and group, which locks Ansible and you out. Use a dedicated name "
                     "(nvflare, the default, is created)" % user)
    if "nvflare_venv_version" in values:
        error = release_error(values["nvflare_venv_version"], "nvflare_venv_version")
        if error:
            found.append(error)
    found += _group_errors(values, "nvflare_venv_group")
    checks = (
        ("nvflare_venv_path", _absolute, "an absolute path other than /"),
        ("nvflare_venv_wheelhouse_dir", _absolute, "an absolute path"),
        ("nvflare_venv_user", lambda v: isinstance(v, str) and bool(_NAME.match(v)), "a valid user name"),
        ("nvflare_venv_group", lambda v: isinstance(v, str) and bool(_NAME.match(v)), "a valid group name"),
    )
    for name, good, what in checks:
        if name in values and not good(values[name]):
            found.append("%s must be %s, got %r" % (name, what, values[name]))
    wheels = values.get("nvflare_venv_local_wheels")
    if isinstance(wheels, (list, tuple)):
        named = [str(w) for w in wheels if not str(w).endswith(".whl")]
        if named:
            found.append("nvflare_venv_local_wheels must list .whl files, got %s" % ", ".join(named))
        missing = [str(w) for w in wheels if str(w).endswith(".whl") and not exists(os.path.expanduser(str(w)))]
        if missing:
            found.append("nvflare_venv_local_wheels: these wheel files do not exist on the control node: %s. Fix the "
                         "paths or remove them from the list" % ", ".join(missing))
    return found


_HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def _is_address(value):
    """ansible.utils.ip_address's rule: one IPv4 or IPv6 address, given as text."""
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def hosts(values, **_context):
    """nvflare_hosts: every entry of nvflare_hosts_entries and nvflare_hosts_extra_entries is a mapping with a host name
    and an IP address, and no name is mapped twice."""
    entries = []
    for name in ("nvflare_hosts_entries", "nvflare_hosts_extra_entries"):
        value = values.get(name)
        if isinstance(value, (list, tuple)):
            entries.extend(value)
    found = []
    bad = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            bad.append("%s (got no mapping)" % entry)
            continue
        name, address = entry.get("name"), entry.get("address")
        if not (isinstance(name, str) and _HOST_NAME.match(name)) or not _is_address(address):
            bad.append("%s (got address %s)" % ("<no name>" if name is None else name,
                                                "<missing>" if address is None else address))
    if bad:
        found.append(
            "nvflare_hosts_entries and nvflare_hosts_extra_entries hold invalid entries: %s. Each entry needs a host "
            "name and an IP address. With the inventory defaults, set ansible_host (or nvflare_address) of that host "
            "to its IP address. A host reached by a DNS or mDNS name (jetson-01.local) can take its address from its "
            "facts instead: nvflare_address: \"{{ ansible_facts.default_ipv4.address }}\" in its host or group "
            "variables" % ", ".join(bad))
    names = [str(e.get("name")) for e in entries if isinstance(e, Mapping) and e.get("name") is not None]
    twice = sorted(set(n for n in names if names.count(n) > 1))
    if twice:
        found.append("nvflare_hosts_entries and nvflare_hosts_extra_entries map these names more than once: %s"
                     % ", ".join(twice))
    return found


RULES = {"nvflare_firewall": firewall, "nvflare_hosts": hosts, "nvflare_service": service, "nvflare_venv": venv}


def errors(role, values, **context):
    """The messages of ROLE's rules (its short name) for VALUES; [] for a role without rules here. CONTEXT is what
    the host adds (relay: it is in nvflare_relays; connection: its ansible_connection; remote_user: its
    ansible_user, '' when unset); each rule takes what it needs."""
    rule = RULES.get(role)
    return rule(values, **context) if rule else []
