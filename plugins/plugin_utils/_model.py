# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The federation model: every fact the roles and playbooks derive from the inventory, computed once.

Private to the edgefl.nvflare collection (controller side). The filters edgefl.nvflare.site,
edgefl.nvflare.federation and edgefl.nvflare.participants are thin wrappers around this module, so
"is this host the server", its site name, org, address, kit directory, unit and ports are
written in exactly one place.

Inventory contract (README "Inventory contract"):
- group ``nvflare_server``: exactly one host; group ``nvflare_clients``: one host per client site;
  group ``nvflare_relays``: relays (optional), each listening on ``nvflare_relay_port`` (default 8102);
- per client or relay: ``nvflare_relay`` - the inventory name of the relay it connects to (default: the
  server); relays can chain, without cycles;
- per host: ``nvflare_site_name`` (default the inventory name), ``nvflare_org`` (default the
  federation-wide org), ``nvflare_address`` (default ``ansible_host``) - the address clients, admins,
  ``/etc/hosts`` entries and the server certificate use;
- federation-wide (read from the server host, i.e. ``group_vars/all``): ``nvflare_project_name``,
  ``nvflare_org``, ``nvflare_workspace``, ``nvflare_fed_learn_port``, ``nvflare_server_admin_port``,
  ``nvflare_admins``, ``nvflare_wait_timeout``.
Deprecated names (read for one release, with a deprecation warning): ``nvflare_hosts_address`` ->
``nvflare_address``, ``nvflare_admin_port`` -> ``nvflare_server_admin_port``,
``nvflare_site_wait_timeout`` -> ``nvflare_wait_timeout``.
"""

from __future__ import annotations

import ipaddress
import os
import re

from ansible_collections.edgefl.nvflare.plugins.module_utils._quorum import QuorumError, min_clients, rollout_serial
from ansible_collections.edgefl.nvflare.plugins.module_utils._provision_spec import (
    NAME_HINTS, NAME_RES, PROJECT_NAME_HINT, PROJECT_NAME_RE, name_length_error, shared_port_error)

SERVER_GROUP = "nvflare_server"
CLIENT_GROUP = "nvflare_clients"
RELAY_GROUP = "nvflare_relays"
DEFAULT_PROJECT = "edgefl"
DEFAULT_ORG = "nvidia"
DEFAULT_FED_LEARN_PORT = 8002
DEFAULT_ADMIN_PORT = 8003
DEFAULT_RELAY_PORT = 8102
DEFAULT_WAIT_TIMEOUT = 180
# where nvflare_service and nvflare_venv put NVFLARE on a host by default (their defaults/main.yml; Inventory.host_paths)
HOST_DEFAULTS = {"root": "/var/lib/nvflare", "venv": "/opt/nvflare/venv", "user": "nvflare"}
DEFAULT_ADMINS = ({"name": "admin@nvidia.com", "org": DEFAULT_ORG, "role": "project_admin"},)
ADMIN_ROLES = ("project_admin", "org_admin", "lead", "member")

# new name -> the old name it replaces (still read, with a deprecation warning, until REMOVED_IN)
RENAMED = {
    "nvflare_address": "nvflare_hosts_address",
    "nvflare_server_admin_port": "nvflare_admin_port",
    "nvflare_wait_timeout": "nvflare_site_wait_timeout",
}
REMOVED_IN = "2.0.0"

# directories of the system a workspace may not be (provisioning and the run lock write into the workspace itself)
_SYSTEM_DIRS = frozenset(("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/run", "/sbin", "/sys",
                          "/usr", "/var"))
_SITE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")


class ModelError(Exception):
    """Bad inventory input: the message names the host or variable and the fix."""


def _undefined_error_types():
    try:
        from ansible.errors import AnsibleUndefinedVariable
    except ImportError:  # pragma: no cover - always there under Ansible
        return ()
    return (AnsibleUndefinedVariable,)


_UNDEFINED = _undefined_error_types()


def _is_undefined(value):
    try:
        from jinja2 import Undefined
    except ImportError:  # pragma: no cover - jinja2 comes with Ansible
        return False
    return isinstance(value, Undefined)


def _undefined_text(value):
    try:
        return str(value._undefined_message)  # pylint: disable=protected-access
    except Exception:  # pylint: disable=broad-exception-caught
        return "the value is undefined"


# what Ansible says of a vaulted value read without the password (not of an undefined variable named vault_x)
_VAULT_TEXT_RE = re.compile(r"vault exception marker|no vault secrets|decryption failed", re.I)


def _vault_hint(text):
    """How to fix a value encrypted with ansible-vault that was read without the vault password."""
    if not _VAULT_TEXT_RE.search(text):
        return ""
    return (" (the value is encrypted with ansible-vault and this run has no vault password: run ansible-playbook "
            "with --ask-vault-pass or --vault-password-file FILE)")


_UNDEFINED_NAME_RE = re.compile(r"'([A-Za-z_][A-Za-z0-9_]*)' is undefined")
# Ansible's magic variables: read from localhost in the first play, another host's value that uses them comes back
# as undefined there (hostvars), though it resolves on the host itself
_MAGIC_VARS = frozenset(("hostvars", "groups", "group_names", "inventory_hostname", "inventory_hostname_short",
                         "inventory_dir", "inventory_file", "playbook_dir", "play_hosts", "role_path", "omit",
                         "vars", "environment"))


# A release nvflare_version may name, and the oldest line the roles deploy: the one rule of the model's first-play
# check, the roles' checks and upgrade.yml (release_error, the edgefl.nvflare.release_error filter)
_VERSION_RE = re.compile(r"^([0-9]+)\.([0-9]+)(\.[0-9]+)?([a-z]+[0-9]*)?$")
_OLDEST_VERSION = (2, 4)


def release_error(value, name="nvflare_version"):
    """What is wrong with an NVFLARE version the collection is asked to deploy, naming the variable ``name``; '' for a
    release of 2.4 or later (2.9.0, 2.10, 2.9.0rc1; 2.9rc1 reads as 2.9). A YAML number (2.7) is read as its text."""
    text = "" if value is None else str(value)
    release = _VERSION_RE.match(text)
    if release and (int(release.group(1)), int(release.group(2))) >= _OLDEST_VERSION:
        return ""
    hint = ""
    if isinstance(value, float):
        hint = (" (YAML read an unquoted number, so 2.10 became 2.1: write the release in quotes, e.g. %s: \"2.10.0\")"
                % name)
    return ("%s %r is not an NVFLARE release this collection deploys: give a release such as 2.9.0, 2.4 or later%s"
            % (name, text, hint))


# The playbooks' whole-number settings and their lowest value (docs/playbooks.md), checked by number_errors()
_WHOLE_NUMBERS = (
    ("nvflare_run_lock_timeout", 0), ("nvflare_provision_lock_timeout", 0), ("nvflare_job_guard_timeout", 0),
    ("nvflare_quorum_grace", 0), ("nvflare_cert_warn_days", 0), ("nvflare_doctor_min_free_mb", 0),
    ("nvflare_submit_timeout", 1), ("nvflare_upgrade_verify_timeout", 1), ("nvflare_cert_validity_days", 1),
    ("nvflare_ca_validity_days", 1),
)

# The playbooks' boolean settings (docs/playbooks.md), checked by boolean_errors(): Jinja's bool filter reads any
# other value as false ("yes please" | bool), so a typo turned a requested replace or restart into a silent no.
_BOOLEANS = (
    "nvflare_allow_restart_during_job", "nvflare_fast_path", "nvflare_prune_kits", "nvflare_renew_certs",
    "nvflare_replace_foreign_kit", "nvflare_restore_force", "nvflare_rotate_ca", "nvflare_site_disable",
    "nvflare_submit_abort_on_timeout", "nvflare_submit_wait", "nvflare_uninstall_workspace",
)


def kind_of(value):
    """What a variable's value is, in the words of a message ("a string"), not Python's (ansible-core 2.19 hands over
    its own tagged types, _AnsibleTaggedStr)."""
    from collections.abc import Mapping

    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (str, bytes)):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a value of type %s" % type(value).__name__


def _percent_ok(value):
    """Whether Ansible's max_fail_percentage keyword takes ``value``: a number, or a number with '%', 0 to 100."""
    if isinstance(value, bool):
        return False
    try:
        number = float(str(value).strip().rstrip("%"))
    except ValueError:
        return False
    return 0 <= number <= 100


# The connection plugins that reach a machine by ansible_host and ansible_port over SSH (over_ssh)
_SSH_CONNECTIONS = ("ssh", "paramiko", "smart", "paramiko_ssh", "libssh")


def _some(names, shown=5):
    """'a, b, c, d, e and 3 more': a long list of hosts cut for a message."""
    names = list(names)
    return ", ".join(names[:shown]) + (" and %d more" % (len(names) - shown) if len(names) > shown else "")


# Every loopback name and address is this machine (_machine).
_LOOPBACK = "<loopback>"

# The name NVFLARE gives the server in a job's deploy_map and its cell (nvflare.apis.job_def.SERVER_SITE_NAME,
# FQCN.ROOT_SERVER): no client or relay may have it.
SERVER_TARGET = "server"


def _is_loopback(address):
    """Whether ADDRESS (an ansible_host, a site name) names the loopback of the machine that resolves it: localhost
    (and any name under .localhost), 127.0.0.0/8, ::1."""
    text = str(address).strip().strip("[]").lower().rstrip(".")
    if text in ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback") or text.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def _group_stem(name):
    """A group name without the nvflare prefix, case, separators and a plural s: nvflare_clients, Clients and client
    are all 'client' (misspelled_groups)."""
    text = re.sub(r"[-_. ]", "", str(name).lower())
    if text.startswith("nvflare"):
        text = text[len("nvflare"):]
    return text[:-1] if len(text) > 1 and text.endswith("s") else text


def _near_group(name, candidates, stem_ok=lambda candidate: True):
    """The first of CANDIDATES that looks like a misspelling of group NAME: a close name (nvflare_client,
    nvflare-clients), else one with its stem (client, Servers) for which STEM_OK holds; [] or [that one]."""
    import difflib

    return difflib.get_close_matches(name, candidates, n=1, cutoff=0.8) or [
        c for c in candidates if _group_stem(c) == _group_stem(name) and stem_ok(c)][:1]


def connection_kind(connection):
    """The short name of ansible_connection CONNECTION (a short name or a FQCN such as ansible.builtin.ssh; None or
    empty: Ansible's default, ssh)."""
    return str(connection or "ssh").rsplit(".", 1)[-1]


def over_ssh(connection):
    """Whether ansible_connection CONNECTION (as for connection_kind) reaches its host over SSH."""
    return connection_kind(connection) in _SSH_CONNECTIONS


# The NVFLARE release the playbooks install and provision for when nvflare_version is not set (the roles' and
# provision.yml's Jinja defaults say the same)
DEFAULT_VERSION = "2.9.0"

# Where a host's one address is read from, first to last (Inventory.address and address_pending)
_ADDRESS_CHAIN = ("nvflare_address", "ansible_host")


def _truthy(value):
    """A boolean variable as Ansible reads it (V(true), V("yes"), V(1)); anything else is false."""
    from ansible.module_utils.parsing.convert_bool import boolean

    try:
        return boolean(value, strict=True)
    except TypeError:
        return False


class Inventory:
    """Read-only view of ``groups`` + ``hostvars`` with the contract's defaults.

    ``deprecations`` collects (old, new, host) for every deprecated name that was read; the filter
    layer turns them into Ansible deprecation warnings.
    """

    def __init__(self, groups, hostvars, server_group=SERVER_GROUP, client_group=CLIENT_GROUP, relay_group=RELAY_GROUP):
        if not isinstance(groups, dict) and not hasattr(groups, "get"):
            raise ModelError("the inventory input must be the 'groups' variable, got %s" % type(groups).__name__)
        self.groups = groups
        self.hostvars = hostvars
        self.server_group = server_group
        self.client_group = client_group
        self.relay_group = relay_group
        self.deprecations = []
        self._vars = {}
        self._raw_vars = {}

    # --- raw variables -------------------------------------------------------------------------
    def _hv(self, host):
        # Once per host and model: on ansible-core 2.19 every hostvars[host] runs the variable manager for that
        # host again (all its vars and a cleaned copy of its facts), which made the model the largest cost of a
        # run that changes nothing (issue #15, profiled with py-spy).
        try:
            return self._vars[host]
        except KeyError:
            pass
        try:
            hv = self.hostvars[host]
        except KeyError:
            raise ModelError("host %r is in a group but not in hostvars; check the inventory" % (host,))
        self._vars[host] = hv
        return hv

    def raw(self, host, name, default=None, tolerate_undefined=False):
        """hostvars[host][name], None counting as unset. With tolerate_undefined, a value whose
        template cannot be resolved here (e.g. it reads facts that were not gathered) counts as unset."""
        hv = self._hv(host)
        try:
            value = hv[name]
        except KeyError:
            return default
        except _UNDEFINED:
            if tolerate_undefined:
                return default
            raise
        if _is_undefined(value):
            # ansible-core 2.19 hands back a marker instead of raising for a template it cannot resolve
            if tolerate_undefined:
                return default
            raise ModelError("hostvars[%s].%s cannot be resolved here: %s%s"
                             % (host, name, _undefined_text(value), _vault_hint(_undefined_text(value))))
        return default if value is None else value

    def var(self, host, name, default=None, tolerate_undefined=False):
        """A contract variable, falling back to its deprecated old name."""
        value = self.raw(host, name, tolerate_undefined=tolerate_undefined)
        if value is None and name in RENAMED:
            old = RENAMED[name]
            value = self.raw(host, old, tolerate_undefined=tolerate_undefined)
            if value is not None:
                self.deprecations.append((old, name, host))
        return default if value is None else value

    # --- groups --------------------------------------------------------------------------------
    def _group(self, name):
        return list(self.groups.get(name) or [])

    def _server_count_error(self, servers):
        if not servers and "all" in self.groups and not self._group("all"):
            return ("the inventory has no hosts at all: check the -i path, and Ansible's warnings above (an inventory "
                    "file Ansible cannot parse is skipped with a warning); it needs one host in '%s' and the clients "
                    "in '%s'" % (self.server_group, self.client_group))
        return ("inventory group '%s' must hold exactly one host (the NVFLARE server), it holds %s%s; put one host in it"
                % (self.server_group, len(servers) or "none", (": " + ", ".join(servers)) if servers else ""))

    def server_host(self, required=True):
        servers = self._group(self.server_group)
        if len(servers) > 1 or (required and not servers):
            raise ModelError(self._server_count_error(servers))
        return servers[0] if servers else None

    def client_hosts(self):
        server = self.server_host(required=False)
        clients = self._group(self.client_group)
        if server is not None and server in clients:
            raise ModelError("host %r is in both '%s' and '%s'; a host is either the server or a client"
                             % (server, self.server_group, self.client_group))
        return clients

    def relay_hosts(self):
        relays = self._group(self.relay_group)
        for group in (self.server_group, self.client_group):
            both = [h for h in relays if h in self._group(group)]
            if both:
                raise ModelError("host %r is in both '%s' and '%s'; a relay is only a relay: take it out of '%s'"
                                 % (both[0], self.relay_group, group, group))
        return relays

    def role(self, host):
        """'server' for the host of the server group, 'relay' for a host of the relay group, 'client' for every
        other host (a host outside the groups is treated as a client, as the roles always did when applied on
        their own)."""
        if host in self._group(self.server_group):
            return "server"
        if host in self._group(self.relay_group):
            return "relay"
        return "client"

    def member(self, host):
        return any(host in self._group(g) for g in (self.server_group, self.client_group, self.relay_group))

    # --- relays ----------------------------------------------------------------------------------
    def relay_port(self, host):
        return self._port(host, "nvflare_relay_port", DEFAULT_RELAY_PORT)[0]

    def upstream(self, host):
        """The relay (inventory name) a client or relay connects to, or None for the server."""
        target = self.raw(host, "nvflare_relay")
        if target in (None, ""):
            return None
        target = str(target)
        if self.role(host) == "server":
            raise ModelError("hostvars[%s].nvflare_relay=%r: the server connects to no relay; remove the variable"
                             % (host, target))
        if target == host:
            raise ModelError("hostvars[%s].nvflare_relay points at the host itself; name another relay of '%s' or "
                             "remove it to connect to the server" % (host, self.relay_group))
        if target == self.server_host(required=False):
            raise ModelError("hostvars[%s].nvflare_relay=%r is the server: a host without nvflare_relay connects to "
                             "the server; remove the variable" % (host, target))
        if target not in self.relay_hosts():
            raise ModelError("hostvars[%s].nvflare_relay=%r is not a host of the inventory group '%s'; add that "
                             "relay to the group or fix the name" % (host, target, self.relay_group))
        return target

    def chain(self, host):
        """The hosts from ``host`` up to (not including) the server: [host, relay, relay, ...]."""
        seen = [host]
        nxt = self.upstream(host)
        while nxt is not None:
            if nxt in seen:
                raise ModelError("the relays form a cycle through nvflare_relay: %s; let one of them connect to "
                                 "the server (remove its nvflare_relay)" % " -> ".join(seen[seen.index(nxt):] + [nxt]))
            seen.append(nxt)
            nxt = self.upstream(nxt)
        return seen

    def check_relay_endpoints(self):
        """Two relays must not listen on the same port of the same address, nor a relay on one of the server's."""
        taken = {}
        relays = self.relay_hosts()
        server = self.server_host(required=False) if relays else None
        if server is not None:
            ports = self.ports()
            for port in (ports["fed_learn"], ports["admin"]):
                taken[((self.address(server) or server), port)] = server
        for relay in relays:
            key = ((self.address(relay) or relay), self.relay_port(relay))
            if key in taken and taken[key] == server:
                raise ModelError("server %r and relay %r both listen on %s:%d; give the relay another "
                                 "nvflare_relay_port" % (server, relay, key[0], key[1]))
            if key in taken:
                raise ModelError("relays %r and %r both listen on %s:%d; give one of them another "
                                 "nvflare_relay_port" % (taken[key], relay, key[0], key[1]))
            taken[key] = relay

    def parent(self, host):
        """What a client or relay dials: the upstream relay's listening endpoint, or the server's."""
        if self.role(host) == "server":
            self.upstream(host)  # refuses an nvflare_relay on the server
            return None
        relay = self.upstream(host)
        if relay is not None:
            peer = self.peer(relay)
            return dict(peer, role="relay", port=self.relay_port(relay))
        server = self.server_host(required=False)
        if server is None:
            return None
        return dict(self.peer(server), role="server", port=self.ports(host)["fed_learn"])

    # --- federation-wide settings (group_vars/all, read from the server host) --------------------
    def _fed_host(self, host=None):
        return self.server_host(required=False) or host

    def project_name(self, host=None):
        return str(self.var(self._fed_host(host), "nvflare_project_name", DEFAULT_PROJECT))

    def default_org(self, host=None):
        return str(self.var(self._fed_host(host), "nvflare_org", DEFAULT_ORG))

    def workspace(self, host=None):
        value = self.var(self._fed_host(host), "nvflare_workspace", "")
        # a control-node path: '~' is the control node's home, as the provision module reads it
        return os.path.expanduser(str(value)).rstrip("/") if value else ""

    def workspace_error(self, host=None):
        """What is wrong with nvflare_workspace for a playbook that provisions or deploys; '' when it is usable.

        A relative workspace would be read from a different directory by each playbook (Ansible runs control-node
        modules in the directory of the playbook that holds the task)."""
        fed = self._fed_host(host)
        value = self.var(fed, "nvflare_workspace", "")
        example = "e.g. ~/.local/share/edgefl-nvflare/<federation>"
        if not value:
            elsewhere = [m for m in self._members() if fed == self.server_host(required=False) and m != fed
                         and self.raw(m, "nvflare_workspace", tolerate_undefined=True) not in (None, "")]
            return ("nvflare_workspace is not set%s: set it (group_vars/all) to an absolute control-node directory that "
                    "will hold the root CA and the startup kits, %s" % (
                        " on the server %r, where the playbooks read it (it is set on %s only)" % (fed, _some(elsewhere))
                        if elsewhere else "", example))
        if not isinstance(value, str):
            return "nvflare_workspace must be a path (a string), got %s: %s" % (kind_of(value), example)
        if os.path.expanduser(value).rstrip("/") == "":
            return ("nvflare_workspace is '/', the root directory: give a directory of its own for the root CA and the "
                    "startup kits, %s" % example)
        if self.workspace(host) in _SYSTEM_DIRS:
            return ("nvflare_workspace is %s, a system directory: give a directory of its own for the root CA and the "
                    "startup kits, %s" % (self.workspace(host), example))
        if not os.path.isabs(self.workspace(host)):
            return ("nvflare_workspace %r is a relative path: Ansible would read it from a different directory in "
                    "each playbook; give an absolute control-node directory (or one under ~), %s" % (str(value), example))
        return ""

    def admin_dest_error(self, host=None):
        """What is wrong with nvflare_admin_dest (where the admin kit is copied on the control node); '' when it is
        unset or absolute. The nvflare_admin role refuses a relative one too, but its play is the last of a deploy."""
        value = self.var(self._fed_host(host) if host is None else host, "nvflare_admin_dest", "",
                         tolerate_undefined=True)
        if not value or re.match(r"^/.+", str(value)):
            return ""
        return ("nvflare_admin_dest %r is not an absolute path: the nvflare_admin role copies the admin kit there "
                "and refuses anything else, at the end of the deploy; give an absolute control-node directory, e.g. "
                "/home/me/nvflare-admin" % (str(value),))

    def problems(self, host=None):
        """What a playbook that changes the federation must refuse before it touches a host (playbooks/run_lock.yml):
        the inventory mistakes the model itself tolerates because read-only uses can live with them."""
        found = []
        servers = self._group(self.server_group)
        if not servers:
            found.append(self._server_count_error(servers))
        found.extend(self.misspelled_groups())
        found.extend(self.group_vars_errors())
        found.extend(error for error in (self.workspace_error(host), self.admin_dest_error(host),
                                         self.control_python_error(host), self.version_error(host)) if error)
        found.extend(self.rollout_errors(host))
        found.extend(self.port_errors(host))
        found.extend(self.name_errors(host))
        found.extend(self.number_errors(host))
        found.extend(self.boolean_errors(host))
        found.extend(self.machine_errors())
        found.extend(self.address_errors())
        return found

    def deploy_problems(self):
        """What only a playbook that deploys the roles refuses (site.yml, deploy.yml, add_client.yml, upgrade.yml):
        an inventory without clients, which would deploy a server alone (an inventory line Ansible cannot parse drops
        a group with a warning). Teardown and read-only playbooks go on: after removing every client, the inventory
        holds the server alone. Also two or more hosts with ansible_connection local: each is the control node, and
        the roles deploy one participant per machine (machine_errors, which leaves them out so that a model of a
        whole federation can be read on one machine)."""
        found = self._local_members_errors()
        if not self._group(self.server_group) or self._group(self.client_group):
            return found
        if any("of %r" % self.client_group in m for m in self.misspelled_groups()):
            return found  # the problems name the misspelled group
        return found + ["inventory group '%s' holds no host: a federation needs at least one client to run a job; put "
                        "the clients in it (an inventory line Ansible cannot parse is skipped: check its warnings "
                        "above)" % self.client_group]

    def _local_members_errors(self):
        local = [m for m in self._members() if self._connection_kind(m) == "local"]
        if not local:
            return []
        if len(local) > 1:
            return ["hosts %s all have ansible_connection local, so each is this control node: the roles deploy one "
                    "NVFLARE participant per machine (its unit, storage and firewall rules), and the later ones would "
                    "overwrite the first; keep at most one of them local and reach the others over SSH (ansible_host)"
                    % ", ".join(repr(m) for m in local)]
        # SSH to this machine's own sshd: a loopback address on port 22 (another port is a forward, to a container or
        # a VM, as the molecule scenarios do)
        ssh_here = [m for m in self._members() if self._machine(m)[0] == ("ssh", _LOOPBACK, "22")]
        if not ssh_here:
            return []
        return ["host %r has ansible_connection local and %s reached over SSH at a loopback address on port 22 "
                "(%s), so %s this control node: the roles deploy one NVFLARE participant per machine (its unit, "
                "storage and firewall rules), and a later one would overwrite the first; give %s its own machine "
                "(ansible_host), or remove it"
                % (local[0], "host %r is" % ssh_here[0] if len(ssh_here) == 1 else "hosts %s are" % _some(ssh_here),
                   ", ".join("%s: %s" % (m, self.raw(m, "ansible_host", m, tolerate_undefined=True)) for m in ssh_here),
                   "both are" if len(ssh_here) == 1 else "all are",
                   "each of them" if len(ssh_here) > 1 else repr(ssh_here[0]))]

    def address_errors(self):
        """An empty ansible_host (Ansible would connect to no address). An address (nvflare_address, else ansible_host)
        templated from a variable that is not defined anywhere. The model reads an address it cannot resolve as not
        known yet, for an inventory that takes it from facts (ansible_default_ipv4 and the like, gathered later), so
        the next source in the chain applied: the server's certificate and every /etc/hosts entry got ansible_host
        instead, without a word. A variable that is not a fact (its name does not start with ansible_) can never
        resolve later."""
        found = []
        for member in self._members():
            target = self.raw(member, "ansible_host", None, tolerate_undefined=True)
            if target is not None and not str(target).strip() and self._connection_kind(member) != "local":
                found.append("host %r: ansible_host is empty, so Ansible would connect to no address; give the "
                             "host's address or name, or remove ansible_host to connect to %r" % (member, member))
            unresolved = self._unresolved_address(member)
            if unresolved is None:
                continue
            name, exc = unresolved
            missing = _UNDEFINED_NAME_RE.search(str(exc))
            if missing and not missing.group(1).startswith("ansible_") and missing.group(1) not in _MAGIC_VARS:
                found.append("hostvars[%s].%s cannot be resolved: %r is undefined; define it (group_vars, "
                             "host_vars) or give the address itself" % (member, name, missing.group(1)))
        return found

    def _members(self):
        """Every host of the federation (server, relays, clients), in that order; [] when the groups are broken (the
        model itself reports that)."""
        try:
            server = self.server_host(required=False)
            return ([server] if server else []) + self.relay_hosts() + self.client_hosts()
        except ModelError:
            return []

    def machine_errors(self):
        """Two hosts of the federation on one machine (_machine), and two site names that differ only in
        case. The roles give each host one machine: the service's unit and storage, the firewall's rules (a client's
        run deletes the server's port rules as not wanted there) and the venv are per machine, so two participants on
        one machine overwrite each other. Host names are case-insensitive (/etc/hosts, DNS): site-1 and Site-1 resolve
        to one address."""
        found = []
        seen, names = {}, {}
        for member in self._members():
            key, where = self._machine(member)
            if key is None:
                pass
            elif key in seen:
                found.append("hosts %r and %r are %s: the roles deploy one NVFLARE participant per machine (its unit, "
                             "storage and firewall rules); give each host its own machine or container, and its own "
                             "ansible_host (or ansible_port behind a NAT)" % (seen[key], member, where))
            else:
                seen[key] = member
            try:
                name = self.site_name(member)
            except (ModelError,) + _UNDEFINED:
                continue
            other = names.setdefault(name.lower(), (member, name))
            if other[1] != name:
                found.append("hosts %r and %r have the site names %r and %r, which differ only in case: host names are "
                             "case-insensitive (/etc/hosts, DNS), so both would resolve to one address; rename one "
                             "(nvflare_site_name)" % (other[0], member, other[1], name))
        return found

    def _connection_kind(self, member):
        """The short name of member's ansible_connection (connection_kind)."""
        return connection_kind(self.raw(member, "ansible_connection", "ssh", tolerate_undefined=True))

    def _machine(self, member):
        """(key, words): what tells the machine member runs on, for machine_errors, or (None, None). Over SSH its
        address and port (every loopback name or address is one: this machine); a container's connection (podman,
        docker, ...) its target, ansible_host. Hosts with ansible_connection local are not compared: every one of them
        is the control node, which is how tests and dry runs model a federation's controller-side steps on one machine
        (a deploy refuses two of them: deploy_problems)."""
        kind = self._connection_kind(member)
        target = str(self.raw(member, "ansible_host", member, tolerate_undefined=True))
        if over_ssh(kind):
            port = str(self.raw(member, "ansible_port", 22, tolerate_undefined=True))
            where = _LOOPBACK if _is_loopback(target) else target.lower()
            return ("ssh", where, port), "reached at one SSH address (%s port %s)" % (
                target if where != _LOOPBACK else "this machine's loopback, %s" % target, port)
        if kind == "local":
            return None, None
        return (kind, target), "reached at one %s target (%s)" % (kind, target)

    def _setting(self, host, name):
        """A federation-wide setting as given, None when it is unset or empty."""
        value = self.var(self._fed_host(host), name, None, tolerate_undefined=True)
        return None if value == "" else value

    def number_errors(self, host=None):
        """The playbooks' whole-number settings that are not whole numbers in their range. Most are read late (the
        wait's grace, the status's warning days, a lock's timeout), and one is turned into 0 by Jinja's int filter
        ('abc' | int), so a typo would otherwise be misread or fail at the end of a deploy."""
        found = []
        for name, lowest in _WHOLE_NUMBERS:
            value = self._setting(host, name)
            if value is None:
                continue
            text = str(value).strip()
            if isinstance(value, bool) or not re.match(r"^[0-9]+$", text) or int(text) < lowest:
                found.append("%s must be a whole number%s, got %r" % (
                    name, " of 1 or more" if lowest else " (0 or more)", value))
        return found

    def boolean_errors(self, host=None):
        """The playbooks' boolean settings that are not booleans as Ansible reads them (true, false, yes, no, 1, 0)."""
        from ansible.module_utils.parsing.convert_bool import boolean

        found = []
        for name in _BOOLEANS:
            value = self._setting(host, name)
            if value is None:
                continue
            try:
                boolean(value.strip() if isinstance(value, str) else value, strict=True)
            except TypeError:
                found.append("%s must be true or false (or yes/no, 1/0), got %r" % (name, value))
        return found

    def name_errors(self, host=None):
        """The project name, site names, orgs and admin names NVFLARE's provisioning would refuse (its own rules), one
        message each, naming the host and the variable to change."""
        found = []
        project = self.project_name(host)
        if not PROJECT_NAME_RE.match(project):
            found.append("nvflare_project_name %r is not a usable project name: %s" % (project, PROJECT_NAME_HINT))
        try:
            server = self.server_host(required=False)
            members = [(server, "server")] if server else []
            members += [(h, "relay") for h in self.relay_hosts()] + [(h, "client") for h in self.client_hosts()]
        except ModelError:
            return found  # a broken group layout is reported by the model itself
        bad_orgs = {}
        for member, role in members:
            try:
                name, org = self.site_name(member), self.org(member)
            except ModelError as exc:
                found.append(str(exc))
                continue
            except _UNDEFINED:
                continue  # from facts: checked where it is read
            too_long = name_length_error(name, role)
            if too_long:
                found.append("host %r: %s (nvflare_site_name, else the inventory name)" % (member, too_long))
            elif not NAME_RES[role].match(name):
                found.append("NVFLARE refuses the %s name %r of host %r: %s (nvflare_site_name, else the inventory "
                             "name)" % (role, name, member, NAME_HINTS[role]))
            elif role != "server" and name == SERVER_TARGET:
                found.append("host %r: a %s cannot be named %r: NVFLARE keeps that name for the server (a job's "
                             "deploy_map sends the server's app to 'server', and the server's cell is named so); "
                             "rename it (nvflare_site_name, else the inventory name)" % (member, role, name))
            elif _is_loopback(name):
                found.append("host %r: the %s name %r is every machine's own name (/etc/hosts, the resolver): %s; "
                             "give it a name of its own (nvflare_site_name, else the inventory name)"
                             % (member, role, name, "the participants that dial it would reach themselves"
                                if role != "client" else "it names no one machine"))
            if not NAME_RES["org"].match(org):
                bad_orgs.setdefault(org, []).append("host %s" % member)
        try:
            admins = self.admins(host)
        except ModelError as exc:
            admins = []
            found.append(str(exc))
        for adm in admins:
            too_long = name_length_error(adm["name"], "admin")
            if too_long:
                found.append("nvflare_admins: %s" % too_long)
            elif not NAME_RES["admin"].match(adm["name"]):
                found.append("NVFLARE refuses the admin name %r in nvflare_admins: %s" % (adm["name"], NAME_HINTS["admin"]))
            if not NAME_RES["org"].match(adm["org"]):
                bad_orgs.setdefault(adm["org"], []).append("admin %s" % adm["name"])
        found.extend("NVFLARE refuses the org %r (%s): %s (nvflare_org, or the admin's org in nvflare_admins)" % (
            org, _some(holders), NAME_HINTS["org"]) for org, holders in bad_orgs.items())
        return found

    def port_errors(self, host=None):
        """The server's two ports when they come out equal with one of them defaulted (nvflare_fed_learn_port=8003
        alone): provisioning refuses that (_provision_spec), but it runs after the bootstrap has contacted every
        host. A port that is not a port number is the model's own error, raised where the ports are read."""
        try:
            ports = self.ports(host)
        except ModelError:
            return []
        error = shared_port_error(ports["fed_learn"], ports["admin"], ports["fed_learn_set"], ports["admin_set"],
                                  "nvflare_server_admin_port", "nvflare_fed_learn_port")
        found = [error] if error else []
        server = self.server_host(required=False)
        if server is None:
            return found
        members = [m for m in self._members() if m != server]
        for key, name in (("fed_learn", "nvflare_fed_learn_port"), ("admin", "nvflare_server_admin_port")):
            # one setting of the federation, read from the server host: a value another host sets is never read
            other = {}
            for member in members:
                try:
                    value = self._port(member, name, ports[key])[0]
                except ModelError as exc:
                    found.append("host %r: %s" % (member, exc))
                    continue
                except _UNDEFINED:
                    continue
                if value != ports[key]:
                    other.setdefault(value, []).append(member)
            found.extend(
                "%s is %d on %s but %d on the server %r: the server's ports are one setting of the federation, read "
                "from the server host (every kit gets the server's); set it once for every host (group_vars/all)"
                % (name, value, _some(hosts), ports[key], server) for value, hosts in sorted(other.items()))
        for member, role in [(server, "server")] + [(h, "relay") for h in self.relay_hosts()]:
            if not over_ssh(self._connection_kind(member)):
                continue
            # only where Ansible's SSH address is the one the participants dial (a bastion's or NAT's port forward
            # to another address is no clash)
            ssh_host = self.raw(member, "ansible_host", member, tolerate_undefined=True)
            if str(ssh_host) != str(self.address(member) or member):
                continue
            try:
                ssh = int(self.raw(member, "ansible_port", 22, tolerate_undefined=True))
                if role == "server":
                    listens = [("nvflare_fed_learn_port", ports["fed_learn"]),
                               ("nvflare_server_admin_port", ports["admin"])]
                else:
                    listens = [("nvflare_relay_port", self.relay_port(member))]
            except (TypeError, ValueError, ModelError):
                continue  # reported where the value is read
            found.extend("%s %d is the port Ansible reaches the %s %r at over SSH (ansible_port, default 22): the "
                         "NVFLARE service could not listen there; give %s another port" % (var, port, role, member, var)
                         for var, port in listens if port == ssh)
        return found

    def rollout_errors(self, host=None):
        """What is wrong with the values that steer a rollout and its wait: nvflare_min_clients (the wait's quorum),
        nvflare_rollout_batch (the clients' batches) and nvflare_max_fail_percentage. The wait reads the first only
        at the end of a deploy, and the others are play keywords read after the bootstrap; checked here, a typo
        stops the run before any host is contacted."""
        try:
            clients = len(self.client_hosts())
            others = len(self._group(self.server_group)) + len(self.relay_hosts())
        except ModelError:
            return []  # a broken group layout is reported by the model itself
        found = []
        for name, check in (("nvflare_min_clients", lambda v: min_clients(v, clients)),
                            ("nvflare_rollout_batch", lambda v: rollout_serial(v, clients, others))):
            value = self._setting(host, name)
            if value is None:
                continue
            try:
                check(value)
            except QuorumError as exc:
                found.append(str(exc))
        value = self._setting(host, "nvflare_max_fail_percentage")
        if value is not None and not _percent_ok(value):
            found.append("nvflare_max_fail_percentage must be a percentage from 0 to 100 (such as 20 or '20%%'), "
                         "got %r" % (value,))
        return found

    def version_error(self, host=None):
        """What is wrong with nvflare_version; '' when it is unset or a release the roles accept (the nvflare_venv
        role's own check: 2.4 or later). Checked here so that a typo stops the run before the bootstrap installs a
        Python on a host that has none."""
        value = self.var(self._fed_host(host), "nvflare_version", "", tolerate_undefined=True)
        error = release_error(value) if str(value) else ""
        return error + ", the same as the control node's nvflare" if error else ""

    def control_versions(self, host=None):
        """The nvflare releases the control node must have, each with what asks for it, as (host, variable) pairs:
        (None, "nvflare_version") for the federation's release (provisioning and the admin API use the control
        node's nvflare), then the hosts whose venv would run another release while their
        nvflare_venv_check_control_node is not false (the venv role refuses a host version the control node does
        not run), with the variable that sets it (nvflare_venv_version, else the host's own nvflare_version). A
        value that cannot be templated here (it reads facts) is left to the role."""
        fed = str(self.var(self._fed_host(host), "nvflare_version", DEFAULT_VERSION, tolerate_undefined=True))
        wants = {fed: [(None, "nvflare_version")]}
        for member in self._members():
            # as the venv role reads it (venv_versions): its nvflare_venv_version, else the host's nvflare_version
            version, name = self.raw(member, "nvflare_venv_version", tolerate_undefined=True), "nvflare_venv_version"
            if version in (None, ""):
                version, name = self.var(member, "nvflare_version", DEFAULT_VERSION, tolerate_undefined=True), \
                    "nvflare_version"
            check = self.raw(member, "nvflare_venv_check_control_node", True, tolerate_undefined=True)
            if version in (None, "") or str(version) == fed or not _truthy(check):
                continue
            wants.setdefault(str(version), []).append((member, name))
        return wants

    def venv_versions(self):
        """The NVFLARE release each member's venv runs, as the nvflare_venv role reads it (nvflare_venv_version, else
        the host's nvflare_version, else DEFAULT_VERSION), without repeats, in member order. A value that cannot be
        templated here (it reads facts) counts as unset, as Jinja's default() reads it."""
        found = []
        for member in self._members():
            version = self.raw(member, "nvflare_venv_version", tolerate_undefined=True)
            if version in (None, ""):
                version = self.var(member, "nvflare_version", tolerate_undefined=True)
            version = str(version) if version not in (None, "") else DEFAULT_VERSION
            if version not in found:
                found.append(version)
        return found

    def control_python_error(self, host=None):
        """What is wrong with nvflare_control_python; '' when it is unset, a bare command name (looked up in PATH), an
        absolute path or one under ~. A relative path would be run from the directory of the playbook that holds the
        control-node task, not from where ansible-playbook runs, as with nvflare_workspace."""
        text = str(self.var(self._fed_host(host), "nvflare_control_python", "", tolerate_undefined=True))
        if "/" not in text or os.path.isabs(os.path.expanduser(text)):
            return ""
        return ("nvflare_control_python %r is a relative path: Ansible runs the control-node tasks that use it from "
                "the directory of each playbook, not from where you run ansible-playbook; give an absolute path, "
                "e.g. -e nvflare_control_python=$PWD/%s" % (text, text))

    def misspelled_groups(self):
        """One message per group of this model (server, clients, relays) that is empty or missing while the inventory
        has hosts in a group whose name is close to it (nvflare_client, nvflare-clients, nvflare_servers) or is its
        bare name (client, clients, server, relays): the playbooks would deploy without those hosts and say
        nothing."""
        ours = (self.server_group, self.client_group, self.relay_group)
        others = [g for g in sorted(self.groups) if g not in ours + ("all", "ungrouped") and self._group(g)]
        placed = set()
        for name in ours:
            placed.update(self._group(name))
        found = []
        for name in ours:
            if self._group(name):
                continue
            # a bare-named group (client, servers) counts only when its hosts are not all in our groups already
            for near in _near_group(name, others, lambda g: not set(self._group(g)) <= placed):
                count = len(self._group(near))
                state = "empty" if name in self.groups else "missing"
                plural = "" if count == 1 else "s"
                found.append("inventory group %r (%d host%s) looks like a misspelling of %r, which the playbooks read "
                             "and which is %s: rename it to %s" % (near, count, plural, name, state, name))
        return found

    def group_vars_errors(self):
        """A group_vars file or directory next to the inventory whose name is no group of it but close to one of the
        federation's groups or 'all' (group_vars/nvflare_servers.yml, group_vars/al.yml): Ansible reads group_vars by
        group name and skips such a file without a word, so its settings (ports, workspace) would not apply."""
        dirs = []
        for member in self._members():
            path = self.raw(member, "inventory_dir", tolerate_undefined=True)
            if path and str(path) not in dirs:
                dirs.append(str(path))
        wanted = (self.server_group, self.client_group, self.relay_group, "all")
        found = []
        for inventory_dir in dirs:
            where = os.path.join(inventory_dir, "group_vars")
            try:
                entries = sorted(os.listdir(where))
            except OSError:
                continue
            for entry in entries:
                stem, ext = os.path.splitext(entry)
                if ext not in ("", ".yml", ".yaml", ".json") or stem.startswith("."):
                    continue
                if stem in self.groups or stem in wanted:
                    continue
                near = _near_group(stem, wanted)
                if near:
                    found.append("%s is read for no group: Ansible reads group_vars by group name and this inventory "
                                 "has no group %r, so its settings do not apply; rename it to %s%s"
                                 % (os.path.join(where, entry), stem, near[0], ext))
        return found

    def _port(self, host, name, default):
        value = self.var(host, name)
        if value is None:
            return default, False
        if self.raw(host, name) is None:
            name = RENAMED[name]  # the error names the variable the inventory set
        try:
            port = int(value)
        except (TypeError, ValueError):
            port = 0
        # int() would make 8002.5 port 8002 without a word
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()) or not 1 <= port <= 65535:
            raise ModelError("%s must be a TCP port number between 1 and 65535, got %r" % (name, value))
        return port, True

    def ports(self, host=None):
        fed = self._fed_host(host)
        fed_learn, fed_set = self._port(fed, "nvflare_fed_learn_port", DEFAULT_FED_LEARN_PORT)
        admin, admin_set = self._port(fed, "nvflare_server_admin_port", DEFAULT_ADMIN_PORT)
        return {"fed_learn": fed_learn, "admin": admin, "fed_learn_set": fed_set, "admin_set": admin_set}

    def wait_timeout(self, host=None):
        value = self.var(self._fed_host(host), "nvflare_wait_timeout", DEFAULT_WAIT_TIMEOUT)
        try:
            timeout = int(value)
        except (TypeError, ValueError):
            timeout = 0
        if isinstance(value, bool) or timeout <= 0:
            raise ModelError("nvflare_wait_timeout must be a positive number of seconds, got %r" % (value,))
        return timeout

    def admins(self, host=None):
        value = self.var(self._fed_host(host), "nvflare_admins", None)
        if value is None:
            value = [dict(a) for a in DEFAULT_ADMINS]
        if not isinstance(value, list):
            raise ModelError("nvflare_admins must be a list of {name, org, role} entries, got %s: in YAML write a list of "
                             "mappings; in an INI inventory or with -e give JSON, "
                             "nvflare_admins='[{\"name\": \"admin@example.com\", \"role\": \"project_admin\"}]'"
                             % kind_of(value))
        if not value:
            raise ModelError("nvflare_admins is empty: list at least one admin (the playbooks talk to the server with "
                             "the first admin's kit), e.g. "
                             "[{name: admin@example.com, role: project_admin}], or leave it unset for %s"
                             % DEFAULT_ADMINS[0]["name"])
        org = self.default_org(host)
        out = []
        for i, adm in enumerate(value):
            if not isinstance(adm, dict) or not adm.get("name"):
                raise ModelError("nvflare_admins[%d] must be a mapping with at least 'name' (an e-mail address), got %r"
                                 % (i, adm))
            out.append({"name": str(adm["name"]), "org": str(adm.get("org") or org),
                        "role": str(adm.get("role") or "project_admin")})
        return out

    # --- per host ------------------------------------------------------------------------------
    def site_name(self, host):
        name = str(self.var(host, "nvflare_site_name", host))
        if not _SITE_NAME_RE.match(name):
            raise ModelError("hostvars[%s].nvflare_site_name=%r is not a valid NVFLARE site name: a client or relay "
                             "name takes letters, digits, '-' and '_' only, a server name is a DNS-style host name "
                             "(letters, digits, '-', '.'); start with a letter or digit" % (host, name))
        return name

    def org(self, host):
        return str(self.var(host, "nvflare_org", self.default_org(host)))

    def address(self, host):
        """The one address of a host: nvflare_address, else ansible_host, else None.

        A value that cannot be resolved where it is read (an inventory that takes the address from
        facts, read on the control node before facts were gathered) counts as unset, so the next
        source in the chain applies; it is the same chain everywhere."""
        for name in _ADDRESS_CHAIN:
            value = self.var(host, name, tolerate_undefined=True)
            if value not in (None, ""):
                return str(value)
        return None

    def address_pending(self, host):
        """Whether the host's address is set but cannot be resolved here yet: an inventory that takes it from facts
        (nvflare_address from ansible_facts), read before that host's facts were gathered."""
        return self._unresolved_address(host) is not None

    def _unresolved_address(self, host):
        """(variable, error) of the first source of the host's address that cannot be resolved here, before any that
        is set; None when the address resolves or is not set."""
        for name in _ADDRESS_CHAIN:
            try:
                value = self.var(host, name)
            except _UNDEFINED + (ModelError,) as exc:
                return name, exc
            if value not in (None, ""):
                return None
        return None

    def peers_needing_facts(self, hosts):
        """The hosts outside ``hosts`` whose address one of ``hosts`` needs and cannot resolve before their facts are
        gathered, in inventory order. A host needs the hosts up its chain and the server (its hosts entry and its
        model), a relay also the hosts behind it (the sources its port is opened to), a host with
        nvflare_hosts_all_participants every member. A run limited with --limit leaves them out of the play."""
        hosts = [str(h) for h in hosts]
        server = self.server_host(required=False)
        members = ([server] if server else []) + self.relay_hosts() + self.client_hosts()
        needed = set()
        for host in hosts:
            needed.update(self.chain(host)[1:])
            if server is not None:
                needed.add(server)
            if self.role(host) == "relay":
                needed.update(h for h in members if h != server and self.upstream(h) == host)
            if _truthy(self.raw(host, "nvflare_hosts_all_participants", tolerate_undefined=True)):
                needed.update(members)
        return [h for h in members if h in needed and h not in hosts and self.address_pending(h)]

    def provision_peers_needing_facts(self, hosts):
        """The server and relays outside ``hosts`` whose address cannot be resolved before their facts are gathered,
        in inventory order. Provisioning writes their addresses into the kits (the server certificate's host names,
        the listening host of a relay that the hosts behind it dial): a playbook that provisions before facts (site.yml)
        and one that provisions after (upgrade.yml) would otherwise issue different certificates, each replacing the
        other's and restarting the clients."""
        hosts = set(str(h) for h in hosts)
        server = self.server_host(required=False)
        members = ([server] if server else []) + self.relay_hosts()
        return [h for h in members if h not in hosts and self.address_pending(h)]

    def kit_dir(self, host, site_name=None):
        """Where the provision module writes this participant's kit (its own Layout, the one formula)."""
        layout = self._kit_layout(host)
        return layout.kit(site_name or self.site_name(host)) if layout else ""

    def root_ca_files(self, host, site_name=None):
        """The control-node files of every root CA the project gave this participant (Layout.root_ca_files); []
        without a workspace."""
        layout = self._kit_layout(host)
        return layout.root_ca_files(site_name or self.site_name(host)) if layout else []

    def _kit_layout(self, host):
        """The project's Layout for a host's kit paths: any non-empty workspace, relative ones too (unlike
        ``_layout``, which the lock and upgrade paths use and which needs an absolute one)."""
        workspace = self.workspace(host)
        if not workspace:
            return None
        from ansible_collections.edgefl.nvflare.plugins.module_utils._provision import Layout

        return Layout(workspace, self.project_name(host))

    def host_paths(self, host, site_name=None):
        """Where the roles put this participant's NVFLARE on its host, for the playbooks that read it there without
        the roles (lockout.yml, doctor.yml, the kit owner check): the inventory's values, else the roles' defaults
        (nvflare_service's root, workspace, job storage, venv and user; nvflare_venv's venv and user when the
        service's are unset). A value that reads one of those roles' variables left to its default (a workspace of
        "{{ nvflare_service_root }}/fl", say), which hostvars cannot resolve outside the roles, is templated here
        with the defaults this model computes, as the role would (_with_role_defaults). One that still cannot be
        resolved counts as unset, as Jinja's default() took it in these playbooks, and every other part of the model
        stays usable."""
        site = site_name or self.site_name(host)
        known = {"nvflare_service_site_name": site}

        def read(name):
            value = self.raw(host, name, tolerate_undefined=True)
            if value is None and name in self._hv(host):  # set, but not resolvable outside the roles
                value = self._with_role_defaults(host, name, known)
            if value is not None:
                known[name] = value
            return value

        root = str(read("nvflare_service_root") or HOST_DEFAULTS["root"])
        known["nvflare_service_root"] = root
        venv = read("nvflare_venv_path")
        known.setdefault("nvflare_venv_path", HOST_DEFAULTS["venv"])
        user = read("nvflare_venv_user")
        known.setdefault("nvflare_venv_user", HOST_DEFAULTS["user"])
        venv = read("nvflare_service_venv_path") or venv
        user = read("nvflare_service_user") or user
        workspace = read("nvflare_service_workspace")
        storage = read("nvflare_service_storage_dir")
        return {
            "root": root,
            "storage": str(storage) if storage else "%s/storage" % root,
            "workspace": str(workspace) if workspace else "%s/%s" % (root, site),
            "venv": str(venv or HOST_DEFAULTS["venv"]),
            "user": str(user or HOST_DEFAULTS["user"]),
        }

    def _with_role_defaults(self, host, name, known):
        """The inventory's value of NAME for HOST templated with KNOWN (role variables and their values) filling in
        what the host's own variables leave undefined; None when the host does not set NAME, when hostvars cannot
        hand out its raw value (HostVars.raw_get, once per host and model: it runs the variable manager), or when it
        still cannot be resolved."""
        raw_get = getattr(self.hostvars, "raw_get", None)
        if raw_get is None:
            return None
        try:
            data = self._raw_vars[host]
        except KeyError:
            try:
                data = self._raw_vars[host] = raw_get(host)
            except Exception:  # pylint: disable=broad-exception-caught
                return None
        try:
            template = data[name]
        except Exception:  # pylint: disable=broad-exception-caught
            return None  # no raw value to work with: unset, as before
        try:
            from ansible.template import Templar

            value = Templar(loader=None, variables=dict(known, **dict(data))).template(template)
        except Exception:  # pylint: disable=broad-exception-caught
            return None  # reads something else this model does not know: unset, as before
        return None if value is None or _is_undefined(value) else value

    def run_lock(self, host=None):
        """The run lock of this federation (edgefl.nvflare.run_lock), next to its project in the workspace; empty
        without an absolute workspace (provisioning then says what is wrong, before anything is created). An
        inventory without a server has one: playbooks/run_lock.yml stops such an inventory before it takes the lock,
        and restore.yml, which needs only the workspace, takes it."""
        layout = self._layout(host)
        return layout.run_lock_file if layout else ""

    def upgrade_keep(self, host=None):
        """Where playbooks/upgrade.yml keeps the provisioning project of the old version until the fleet is verified
        or rolled back (while it exists, an upgrade did not finish); empty without an absolute workspace."""
        layout = self._layout(host)
        return layout.upgrade_keep_dir if layout else ""

    def upgrade_rollback(self, host=None):
        """The new version's project a rollback of upgrade.yml moved aside; while it exists the hosts' rollback did not
        finish. Empty without an absolute workspace."""
        layout = self._layout(host)
        return layout.upgrade_rollback_dir if layout else ""

    def project_dir(self, host=None):
        """The provisioning project, <workspace>/<project_name> (root CA state, kits); empty without an absolute
        workspace."""
        layout = self._layout(host)
        return layout.project_dir if layout else ""

    def _layout(self, host=None):
        if self.workspace_error(host):
            return None
        from ansible_collections.edgefl.nvflare.plugins.module_utils._provision import Layout

        return Layout(self.workspace(host), self.project_name(host))

    def unit(self, host, role=None):
        value = self.raw(host, "nvflare_service_unit_name")
        return str(value) if value else "nvflare-%s.service" % (role or self.role(host))

    def peer(self, host):
        """What other hosts need to know of a host: its names and address."""
        return {"host": host, "site_name": self.site_name(host), "org": self.org(host), "address": self.address(host)}

    def site(self, host, site_name=None, role=None):
        """The host's model. ``site_name``/``role`` override the inventory's (a role variable set in a play);
        ``kit_dir`` and ``unit`` follow them."""
        if role is not None and role not in ("server", "client", "relay"):
            raise ModelError("role must be 'server', 'client' or 'relay', got %r" % (role,))
        role = role or self.role(host)
        site_name = str(site_name) if site_name else self.site_name(host)
        ports = self.ports(host)
        server = self.server_host(required=False)
        ports = {"fed_learn": ports["fed_learn"], "admin": ports["admin"]}
        if role == "relay":
            ports["relay"] = self.relay_port(host)
        chain = self.chain(host) if role != "server" else []
        # the hosts this one connects through: its relays, then the server (none for the server)
        upstream = chain[1:] + ([server] if server is not None and role != "server" else [])
        path = [self.site_name(h) for h in chain]
        if server is not None:
            path.append(self.site_name(server))
        return {
            "host": host,
            "role": role,
            "member": self.member(host),
            "site_name": site_name,
            "org": self.org(host),
            "address": self.address(host),
            "kit_dir": self.kit_dir(host, site_name),
            "root_ca_files": self.root_ca_files(host, site_name),
            "host_paths": self.host_paths(host, site_name),
            "unit": self.unit(host, role),
            "ports": ports,
            "project_name": self.project_name(host),
            "workspace": self.workspace(host),
            "server": self.peer(server) if server is not None else None,
            "parent": self.parent(host),
            "path": path,
            "upstream_hosts": upstream,
        }

    def admin(self, host=None, name=None):
        """The admin the playbooks act as (the first of nvflare_admins, or ``name``) and its kits."""
        admins = self.admins(host)
        chosen = admins[0]
        if name:
            match = [a for a in admins if a["name"] == name]
            chosen = match[0] if match else {"name": str(name), "org": self.default_org(host), "role": "project_admin"}
        workspace = self.workspace(host)
        dest = self.raw(host, "nvflare_admin_dest") if host is not None else None
        if not dest:
            dest = "%s/admin/%s" % (workspace, chosen["name"]) if workspace else ""
        return dict(chosen, kit_dir=self.kit_dir(host, chosen["name"]) if workspace else "", dest=str(dest))

    def federation(self, host=None, admin=None):
        server = self.server_host(required=False)
        clients = self.client_hosts()
        relays = self.relay_hosts()
        self.check_relay_endpoints()
        names = {}
        for h in ([server] if server else []) + relays + clients:
            name = self.site_name(h)
            if name in names:
                raise ModelError("hosts %r and %r have the same site name %r; nvflare_site_name must be unique"
                                 % (names[name], h, name))
            names[name] = h
        ports = self.ports(host)
        return {
            "project_name": self.project_name(host),
            "org": self.default_org(host),
            "workspace": self.workspace(host),
            "run_lock": self.run_lock(host),
            "project_dir": self.project_dir(host),
            "upgrade_keep": self.upgrade_keep(host),
            "upgrade_rollback": self.upgrade_rollback(host),
            "venv_versions": self.venv_versions(),
            "problems": self.problems(host),
            "deploy_problems": self.deploy_problems(),
            "ports": {"fed_learn": ports["fed_learn"], "admin": ports["admin"]},
            "wait_timeout": self.wait_timeout(host),
            "server": self.site(server) if server else None,
            "clients": [self.site(h) for h in clients],
            "client_names": [self.site_name(h) for h in clients],
            "relays": [self.site(h) for h in relays],
            "admins": self.admins(host),
            "admin": self.admin(host, admin),
        }
