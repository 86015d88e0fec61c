# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Participant spec for edgefl.nvflare.provision: normalise and validate, no side effects.

Turns the module options (or a project.yml) into an NVFLARE project dict and checks it
before anything is written. Field names in errors are the module's option paths
(``clients[2].name``) or the project.yml paths (``participants[2].name``).
"""

from __future__ import annotations

import copy
import re

from ansible_collections.edgefl.nvflare.plugins.module_utils import _flare_compat as compat
from ansible_collections.edgefl.nvflare.plugins.module_utils._flare_compat import version_tuple

DEFAULT_ORG = "nvidia"
DEFAULT_FED_LEARN_PORT = 8002
DEFAULT_ADMIN_PORT = 8003
DEFAULT_CA_VALIDITY_DAYS = 3650  # a new root CA (NVFLARE: 360); see docs/provision.md
DEFAULT_CERT_VALIDITY_DAYS = 365  # participant certificates (NVFLARE: 360)
DEFAULT_RELAY_PORT = 8102
# The first NVFLARE release whose provisioning knows relay participants (listening_host, connect_to,
# fed_relay.json): 2.6.0. nvflare 2.5.2, the last 2.5 release, has no relay type in nvflare.lighter.
RELAY_MIN_NVFLARE = "2.6.0"
ADMIN_ROLES = ("project_admin", "org_admin", "lead", "member")
CONNECTION_SECURITY = ("clear", "tls", "mtls")
PARTICIPANT_TYPES = ("server", "client", "admin", "relay")
# Properties that make one participant's kit depend on other participants.
CROSS_KIT_PROPS = ("parent", "auth_identity")

PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
PROJECT_NAME_HINT = "1-63 characters, letters, digits, '_', '-', '.', starting with a letter or digit"
# What to do about a name NVFLARE refuses, by its kind (also the federation model's first-play check)
NAME_HINTS = {
    "server": "use a DNS-style host name (letters, digits, '-', '.')",
    "client": "use letters, digits, '-' and '_' only",
    "admin": "use an e-mail address",
    "relay": "use letters, digits, '-' and '_' only",
    "org": "use letters, digits and '_' only",
}
# The same patterns NVFLARE 2.9 applies (nvflare.apis.utils.format_check); the
# authoritative check is NVFLARE's own, run by validate_with_nvflare() whenever
# the spec differs from the one NVFLARE already accepted for this workspace.
_HOST_NAME_RE = re.compile(
    r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$"
)
# NVFLARE's name rules by kind (format_check, the same in 2.4 to 2.9; the server's is the host name rule): the
# federation model applies them in the first play, before provisioning applies NVFLARE's own.
NAME_RES = {
    "server": _HOST_NAME_RE,
    "client": re.compile(r"^[A-Za-z0-9-_]+$"),
    "relay": re.compile(r"^[A-Za-z0-9-_]+$"),
    "admin": re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}$"),
    "org": re.compile(r"^[A-Za-z0-9_]+$"),
}
_DOTTED_NUMERIC_RE = re.compile(r"^[0-9.]+$")
# A participant's name is the common name of its certificate, which X.509 (and the cryptography package NVFLARE
# signs with) holds to 64 characters: a longer name fails in provisioning with a bare cryptography error, or (a
# server name, NVFLARE 2.6+) is cut short there, so that its kit is not where its name says.
MAX_NAME_LENGTH = 64


def name_length_error(name, kind):
    """What is wrong with a participant name's length; '' when it fits in a certificate."""
    if not isinstance(name, str) or len(name) <= MAX_NAME_LENGTH:
        return ""
    fix = ("use a name of at most %d characters; the long host name the clients connect to can stay the server's "
           "address (nvflare_address in an inventory, default_host in a project file)" % MAX_NAME_LENGTH
           if kind == "server" else "use a name of at most %d characters" % MAX_NAME_LENGTH)
    return ("the %s name %r is %d characters long, and a certificate's common name holds at most %d: %s"
            % (kind, name, len(name), MAX_NAME_LENGTH, fix))


class SpecError(ValueError):
    """Invalid input; ``field`` names the option at fault, the message says how to fix it."""

    def __init__(self, field, msg):
        super().__init__("%s: %s" % (field, msg))
        self.field = field
        self.msg = "%s: %s" % (field, msg)


def default_builders(ca_validity_days=DEFAULT_CA_VALIDITY_DAYS, nvflare_version=None, server=None):
    """The builder list of NVFLARE's sample project.yml of that version (default 2.9), cloud templates left out.

    2.4-2.6 get the overseer agent NVFLARE's own sample has (``server``: name and ports for its sp_end_point),
    2.4 and 2.5 the TemplateBuilder; see _flare_compat.default_builders.
    """
    return compat.default_builders(nvflare_version, ca_validity_days, server)


def _is_ip(value):
    try:
        import netaddr
    except ImportError as exc:  # pragma: no cover - netaddr is in requirements.txt
        raise SpecError("host_names", "the Python library netaddr is missing on the control node: pip install netaddr") from exc
    return bool(netaddr.valid_ipv4(value, netaddr.INET_PTON) or netaddr.valid_ipv6(value))


def _address_hint(value):
    """What to change in an address written as a URL, with a port or in brackets; None for anything else."""
    if "://" in value or value.startswith("//"):
        netloc = value.split("//", 1)[1].split("/", 1)[0]
        return "give the address without a URL scheme, path or port (%s)" % (_without_port(netloc) or "the host")
    if value.startswith("[") and value.endswith("]") and _is_ip(value[1:-1]):
        return "give the IPv6 address without brackets (%s)" % value[1:-1]
    host = _without_port(value)
    if host != value:
        return ("give the address without a port (%s): the server's ports are settings of their own "
                "(nvflare_fed_learn_port, nvflare_server_admin_port; fed_learn_port and admin_port in project.yml)"
                % host)
    return None


def _without_port(value):
    """host:port or [v6]:port -> host (brackets dropped); anything else as it is."""
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and host and (":" not in host or (host.startswith("[") and host.endswith("]"))):
        return host.strip("[]")
    return value


def check_address(field, value):
    """An IP address (checked with netaddr) or a DNS host name (NVFLARE's host_name rule)."""
    if not isinstance(value, str) or not value:
        raise SpecError(field, "must be a non-empty string (an IP address or a host name), got %r" % (value,))
    ip_like = ":" in value or _DOTTED_NUMERIC_RE.match(value)
    if ip_like and _is_ip(value):
        return value
    hint = _address_hint(value)
    if hint:
        raise SpecError(field, "%r is not an IP address or a host name: %s" % (value, hint))
    if ip_like:
        raise SpecError(field, "%r is not a valid IP address; give a valid IPv4/IPv6 address or a host name" % value)
    if len(value) > 253 or not _HOST_NAME_RE.match(value):
        raise SpecError(
            field,
            "%r is not a valid host name (letters, digits and '-' in dot-separated labels, "
            "no leading/trailing '-'); fix the name or use the IP address" % value,
        )
    return value


def check_port(field, value):
    """The port as an int. A quoted one ("8002") of a project file is taken as NVFLARE 2.9 takes it (its kits work
    with either) and returned as the number, so every kit and check sees one form."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,5}", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(field, "must be an integer port number between 1 and 65535, got %r" % (value,))
    if not 1 <= value <= 65535:
        raise SpecError(field, "port %d is outside 1-65535; choose a port in that range" % value)
    return value


def _check_str(field, value):
    if not isinstance(value, str) or not value:
        raise SpecError(field, "must be a non-empty string, got %r" % (value,))
    return value


def shared_port_error(fed, adm, fed_learn_explicit, admin_explicit, admin_name="admin_port",
                      fed_learn_name="fed_learn_port"):
    """Why the server's ports are refused, '' when they are not: equal while one of them was defaulted. The names are
    those of the input (project.yml fields, or the inventory variables of the first play's check)."""
    if fed != adm or (fed_learn_explicit and admin_explicit):
        return ""
    return ("%s and %s would both be %d; NVFLARE 2.7 and later can share one port, but only when you set both %s "
            "and %s explicitly - set %s (default %d) to another port or set both explicitly"
            % (admin_name, fed_learn_name, fed, fed_learn_name, admin_name, admin_name, DEFAULT_ADMIN_PORT))


def _resolve_ports(field, server, fed_learn_explicit, admin_explicit):
    fed = server.get("fed_learn_port")
    adm = server.get("admin_port")
    if fed is None:
        fed = DEFAULT_FED_LEARN_PORT
    if adm is None:
        adm = DEFAULT_ADMIN_PORT
    fed = check_port(field + ".fed_learn_port", fed)
    adm = check_port(field + ".admin_port", adm)
    error = shared_port_error(fed, adm, fed_learn_explicit, admin_explicit)
    if error:
        raise SpecError(field + ".admin_port", error)
    server["fed_learn_port"] = fed
    server["admin_port"] = adm


def from_options(params, nvflare_version=None):
    """Module options -> (project_dict, labels, hosts). ``labels`` maps name -> option path.

    ``nvflare_version``: the control node's nvflare, whose own builder list the project gets (None: 2.9).
    """
    project_name = params.get("project_name")
    if not project_name:
        raise SpecError("project_name", "is required when project_file is not given")
    org_default = params.get("org") or DEFAULT_ORG
    server_opt = params.get("server")
    if not server_opt:
        raise SpecError("server", "exactly one server is required: set server.name (and its ports/host names)")
    if isinstance(server_opt, list):
        if len(server_opt) != 1:
            raise SpecError("server", "exactly one server is required, got %d; keep one server" % len(server_opt))
        server_opt = server_opt[0]
    labels = {}
    hosts = {}
    server = {"name": _check_str("server.name", server_opt.get("name")), "type": "server",
              "org": server_opt.get("org") or org_default}
    for key in ("fed_learn_port", "admin_port"):
        if server_opt.get(key) is not None:
            server[key] = server_opt[key]
    _resolve_ports("server", server, server_opt.get("fed_learn_port") is not None,
                   server_opt.get("admin_port") is not None)
    if server_opt.get("default_host"):
        server["default_host"] = check_address("server.default_host", server_opt["default_host"])
    host_names = server_opt.get("host_names") or []
    if host_names:
        server["host_names"] = [check_address("server.host_names[%d]" % i, h) for i, h in enumerate(host_names)]
    if params.get("connection_security"):
        server["connection_security"] = params["connection_security"]
    if server_opt.get("host"):
        hosts[server["name"]] = check_address("server.host", server_opt["host"])
    labels[server["name"]] = "server"
    participants = [server]
    seen = {server["name"]: "server.name"}

    def _add(field, entry):
        name = entry["name"]
        if name in seen:
            raise SpecError(field + ".name", "duplicate participant name %r (also %s); every server, relay, "
                            "client and admin needs a unique name" % (name, seen[name]))
        seen[name] = field + ".name"
        labels[name] = field
        participants.append(entry)

    for i, relay in enumerate(params.get("relays") or []):
        field = "relays[%d]" % i
        entry = _relay_entry(field, relay, org_default, hosts)
        _add(field, entry)
    for i, client in enumerate(params.get("clients") or []):
        field = "clients[%d]" % i
        entry = {"name": _check_str(field + ".name", client.get("name")), "type": "client",
                 "org": client.get("org") or org_default}
        if client.get("host"):
            hosts[entry["name"]] = check_address(field + ".host", client["host"])
        if client.get("connect_to") and client["connect_to"] != server["name"]:
            entry["connect_to"] = {"name": _check_str(field + ".connect_to", client["connect_to"])}
        _add(field, entry)
    for i, admin in enumerate(params.get("admins") or []):
        field = "admins[%d]" % i
        role = admin.get("role") or "project_admin"
        if role not in ADMIN_ROLES:
            raise SpecError(field + ".role", "unknown admin role %r; use one of %s" % (role, ", ".join(ADMIN_ROLES)))
        entry = {"name": _check_str(field + ".name", admin.get("name")), "type": "admin",
                 "org": admin.get("org") or org_default, "role": role}
        _add(field, entry)
    for field in ("cert_validity_days", "ca_validity_days"):
        days = params.get(field)
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days <= 0):
            raise SpecError(field, "must be a positive number of days, got %r" % (days,))
    validity = params.get("ca_validity_days") or DEFAULT_CA_VALIDITY_DAYS
    project = {
        "api_version": 3,
        "name": project_name,
        "description": "Provisioned by edgefl.nvflare.provision",
        "participants": participants,
        "builders": default_builders(validity, nvflare_version, server),
    }
    validate_project(project, labels, source="options", nvflare_version=nvflare_version)
    check_relays(participants, labels)
    return project, labels, hosts


def _relay_entry(field, relay, org_default, hosts):
    """A relays[] option -> an NVFLARE relay participant (listening_host, connect_to)."""
    name = _check_str(field + ".name", relay.get("name"))
    port = relay.get("port")
    if port is None:
        port = DEFAULT_RELAY_PORT
    port = check_port(field + ".port", port)
    listening = {"port": port}
    host = relay.get("host")
    if host:
        hosts[name] = check_address(field + ".host", host)
    # what clients and child relays dial: the relay's address, else its name (resolved by /etc/hosts or DNS)
    listening["default_host"] = host or name
    names = [check_address("%s.host_names[%d]" % (field, j), h) for j, h in enumerate(relay.get("host_names") or [])]
    if host and _is_ip(host) and host not in names:
        names.append(host)
    if names:
        listening["host_names"] = names
    entry = {"name": name, "type": "relay", "org": relay.get("org") or org_default, "listening_host": listening}
    if relay.get("connect_to"):
        entry["connect_to"] = {"name": _check_str(field + ".connect_to", relay["connect_to"])}
    return entry


def connect_name(p):
    """The name in a participant's connect_to (None: the server, or an address-only connect_to)."""
    ct = p.get("connect_to")
    return ct.get("name") if isinstance(ct, dict) else None


def check_relays(participants, labels):
    """connect_to names an existing relay (or the server), no cycle, no two relays on one host:port."""
    server = [p for p in participants if p["type"] == "server"][0]["name"]
    relays = dict((p["name"], p) for p in participants if p["type"] == "relay")
    for p in participants:
        target = connect_name(p)
        field = labels.get(p["name"], p["name"]) + ".connect_to"
        if target is None or target == server:
            continue
        if p["type"] not in ("client", "relay"):
            raise SpecError(field, "only clients and relays connect to a relay; remove connect_to from %s %r"
                            % (p["type"], p["name"]))
        if target == p["name"]:
            raise SpecError(field, "%r connects to itself; name another relay or omit connect_to to connect to "
                            "the server" % target)
        if target not in relays:
            raise SpecError(field, "%r is not a relay of this project (relays: %s); name one of the relays or "
                            "omit connect_to to connect to the server %r"
                            % (target, ", ".join(sorted(relays)) or "none", server))
    for name in relays:
        chain = [name]
        nxt = connect_name(relays[name])
        while nxt is not None and nxt != server:
            if nxt in chain:
                loop = chain[chain.index(nxt):] + [nxt]
                raise SpecError(labels.get(name, name) + ".connect_to", "the relays form a cycle: %s; let one of "
                                "them connect to the server (omit its connect_to)" % " -> ".join(loop))
            chain.append(nxt)
            nxt = connect_name(relays[nxt])
    taken = {}
    for name, p in relays.items():
        lh = p.get("listening_host")
        if not isinstance(lh, dict):
            raise SpecError(labels.get(name, name) + ".listening_host", "a relay needs a listening_host with "
                            "default_host and port")
        port = lh.get("port")
        label = labels.get(name, name)
        # a project file's relay names it in listening_host; the module's relays option as port
        port_field = label + (".listening_host.port" if label.startswith("participants[") else ".port")
        if port is None:
            raise SpecError(port_field, "relay %r has no port to listen on (the clients and relays behind it would "
                            "dial port 0); give it one, e.g. 8102" % name)
        port = lh["port"] = check_port(port_field, port)
        # NVFLARE writes localhost for a relay without default_host into the kits that connect to it
        key = (lh.get("default_host") or "localhost", port)
        if key in taken:
            raise SpecError(port_field, "relays %r and %r both listen on %s:%d; give one of "
                            "them another port" % (taken[key], name, key[0], key[1]))
        taken[key] = name


def _relay_fqcns(participants):
    server = [p for p in participants if p["type"] == "server"][0]["name"]
    relays = dict((p["name"], p) for p in participants if p["type"] == "relay")
    out = {}

    def fqcn(name):
        if name not in out:
            parent = connect_name(relays[name])
            out[name] = name if parent in (None, server) else fqcn(parent) + "." + name
        return out[name]

    for name in relays:
        fqcn(name)
    return out


def kit_links(project):
    """What each kit takes from OTHER participants in NVFLARE 2.9 when relays exist, by name.

    Mirrors nvflare.lighter.impl.static_file: the server's fed_server.json and every client's
    fed_client.json carry the project-wide ``auth_identity_map`` (the certificate identity of every cell
    whose FQCN does not start with its own name: clients behind relays, chained relays); a relay's
    fed_relay.json carries its parent's endpoint and the map of its descendants; a client behind a relay
    gets local/relay__resources.json with that relay's FQCN and listening endpoint. A participant whose
    entry changes needs its kit rebuilt (its key is kept). Flat projects give no entries at all.
    """
    parts = project["participants"]
    if not any(p["type"] == "relay" for p in parts):
        return {}
    server = [p for p in parts if p["type"] == "server"][0]["name"]
    relays = dict((p["name"], p) for p in parts if p["type"] == "relay")
    rfq = _relay_fqcns(parts)
    cells = []  # (fqcn, name) of every relay and client, in NVFLARE's order
    for p in parts:
        if p["type"] == "relay":
            cells.append((rfq[p["name"]], p["name"]))
    for p in parts:
        if p["type"] == "client":
            target = connect_name(p)
            cells.append((rfq[target] + "." + p["name"] if target in rfq else p["name"], p["name"]))

    def identity_map(local=None):
        out = {}
        for fqcn, name in cells:
            if local is None:
                default = fqcn.split(".")[0]
            elif fqcn.startswith(local + "."):
                default = fqcn[len(local) + 1:].split(".")[0]
            else:
                continue
            if name != default:
                out[fqcn] = name
        return out

    def endpoint(name):
        if name in relays:
            return {"name": name, "fqcn": rfq[name], "listening_host": relays[name].get("listening_host")}
        return {"name": server}

    everyone = identity_map()
    links = {}
    for p in parts:
        name = p["name"]
        if p["type"] == "server":
            links[name] = {"auth_identity_map": everyone}
        elif p["type"] == "client":
            links[name] = {"auth_identity_map": everyone}
            if connect_name(p) in relays:
                links[name]["relay"] = endpoint(connect_name(p))
        elif p["type"] == "relay":
            links[name] = {"fqcn": rfq[name], "auth_identity_map": identity_map(rfq[name]),
                           "parent": endpoint(connect_name(p) or server)}
    return links


def check_relay_support(project, labels, nvflare_version):
    """Relays need nvflare >= RELAY_MIN_NVFLARE; say so before anything is written."""
    relays = [p["name"] for p in project["participants"] if p["type"] == "relay"]
    if relays and version_tuple(nvflare_version) < version_tuple(RELAY_MIN_NVFLARE):
        raise SpecError(labels.get(relays[0], relays[0]), "relay participants need nvflare %s or later, the control "
                        "node has nvflare %s; upgrade nvflare on the control node (pip install 'nvflare>=%s'), or "
                        "provision without relays" % (RELAY_MIN_NVFLARE, nvflare_version, RELAY_MIN_NVFLARE))


def check_version_support(project, labels, nvflare_version):
    """Everything the control node's nvflare line cannot provision, as a SpecError naming the option and the
    version (before anything is written). Returns the warnings for documented defaults (see docs/provision.md)."""
    check_relay_support(project, labels, nvflare_version)
    for name, option, msg in compat.unsupported(project, nvflare_version):
        field = option if name is None else "%s.%s" % (labels.get(name, name), option)
        raise SpecError(field, msg)
    return compat.warnings(project, nvflare_version) + custom_role_warnings(project)


def project_file_warnings(data, nvflare_version=None):
    """What a project.yml gets from this module that ``nvflare provision`` of that NVFLARE line would make otherwise.

    A server without admin_port: the module gives it DEFAULT_ADMIN_PORT (the port the firewall role opens), where
    NVFLARE 2.7 and later put the admin on fed_learn_port (their ctx.py). Both kits work; the warning says which."""
    if version_tuple(nvflare_version or "2.9")[:2] < compat.SHARED_ADMIN_PORT_MIN or not isinstance(data, dict):
        return []
    out = []
    for i, p in enumerate(data.get("participants") or []):
        if isinstance(p, dict) and p.get("type") == "server" and p.get("admin_port") is None:
            fed = p.get("fed_learn_port")
            fed = DEFAULT_FED_LEARN_PORT if fed is None else fed
            if str(fed) == str(DEFAULT_ADMIN_PORT):
                continue  # refused as a defaulted shared port, with its own message
            out.append("participants[%d] (server %r) sets no admin_port: its admins connect on port %d, this module's "
                       "default; 'nvflare provision' of NVFLARE %s would put the admin port on fed_learn_port %s. Set "
                       "admin_port in the project file to choose: %d keeps these kits (and ends this warning), %s "
                       "shares one port" % (i, p.get("name"), DEFAULT_ADMIN_PORT, nvflare_version or "2.9", fed,
                                            DEFAULT_ADMIN_PORT, fed))
    return out


def from_project_file(path, data, nvflare_version=None):
    """A parsed project.yml -> (project_dict, labels, hosts). Raises SpecError naming the field.

    A file without builders gets the builder list of ``nvflare_version`` (None: 2.9).
    """
    if not isinstance(data, dict) or not data:
        raise SpecError("project_file", "%s is empty or not a YAML mapping; give a NVFLARE project.yml" % path)
    project = copy.deepcopy(data)
    api_version = project.get("api_version")
    if isinstance(api_version, int) and not isinstance(api_version, bool) and api_version < 3:
        raise SpecError("api_version", "%s is a project file of NVFLARE 2.0 (api_version %d), a format NVFLARE 2.2 "
                        "and later do not read: set api_version: 3; give each admin one 'role' (project_admin, "
                        "org_admin, lead or member) instead of its 'roles' list (super is project_admin); drop the "
                        "AuthPolicyBuilder, DistributionBuilder and HEBuilder entries of 'builders', or the whole "
                        "'builders' list to get the NVFLARE version's own; 'nvflare provision' with no project file "
                        "writes a sample of the current format" % (path, api_version))
    if project.get("edge"):
        raise SpecError("project_file", "%s is an edge (hierarchical) project, which this module does not "
                        "provision; use 'nvflare provision' for it" % path)
    parts = project.get("participants")
    if not isinstance(parts, list):
        raise SpecError("project_file", "%s has no 'participants' list; add one" % path)
    labels = {}
    servers = []
    seen = {}
    for i, p in enumerate(parts):
        field = "participants[%d]" % i
        if not isinstance(p, dict):
            raise SpecError(field, "must be a mapping with name, type and org")
        name = _check_str(field + ".name", p.get("name"))
        ptype = p.get("type")
        if ptype == "overseer":
            raise SpecError(field + ".type", "%r is an overseer, the high availability of NVFLARE 2.6 and earlier, "
                            "which is not supported: remove this participant and keep one server. On NVFLARE 2.6 and "
                            "earlier the kits still need an overseer agent that names that server: give "
                            "StaticFileBuilder the one NVFLARE's own sample has, overseer_agent: {path: "
                            "nvflare.ha.dummy_overseer_agent.DummyOverseerAgent, overseer_exists: false, args: "
                            "{sp_end_point: '<server>:<fed_learn_port>:<admin_port>'}}, or leave out 'builders' and "
                            "the module uses that sample's list; 2.7 and later need no agent" % name)
        if ptype not in PARTICIPANT_TYPES:
            raise SpecError(field + ".type", "unknown participant type %r; use one of %s"
                            % (ptype, ", ".join(PARTICIPANT_TYPES)))
        _check_str(field + ".org", p.get("org"))
        if name in seen:
            raise SpecError(field + ".name", "duplicate participant name %r (also %s); every participant needs a "
                            "unique name" % (name, seen[name]))
        seen[name] = field + ".name"
        labels[name] = field
        if ptype == "server":
            servers.append(field)
            _resolve_ports(field, p, p.get("fed_learn_port") is not None, p.get("admin_port") is not None)
            if p.get("default_host"):
                check_address(field + ".default_host", p["default_host"])
            host_names = p.get("host_names") or []
            # NVFLARE 2.6+ takes one name as a plain string too (its build_subject_alt_names)
            for j, h in enumerate([host_names] if isinstance(host_names, str) else host_names):
                check_address("%s.host_names[%d]" % (field, j), h)
        if ptype == "admin":
            role = p.get("role")
            if role is None and p.get("roles"):
                raise SpecError(field + ".role", "%r has a 'roles' list, the format of NVFLARE 2.0 and 2.1, which 2.2 "
                                "and later do not read; give it one 'role': %s (super is project_admin), and drop an "
                                "AuthPolicyBuilder from 'builders'" % (name, ", ".join(ADMIN_ROLES)))
            if role not in ADMIN_ROLES and not _custom_role(role):
                hint = ""
                if role == "super":
                    hint = " (super, of NVFLARE 2.0 and 2.1, is project_admin)"
                elif isinstance(role, str) and role.lower() in ADMIN_ROLES:
                    hint = " (roles are case-sensitive: %s)" % role.lower()
                raise SpecError(field + ".role", "unknown admin role %r%s; use one of %s, or a role of your own that "
                                "each site grants rights in its local/authorization.json (letters, digits and '_')"
                                % (role, hint, ", ".join(ADMIN_ROLES)))
    if len(servers) != 1:
        raise SpecError("project_file", "%s must define exactly one participant of type server, found %d%s%s"
                        % (path, len(servers), (" (" + ", ".join(servers) + ")") if servers else "",
                           "; several servers behind an overseer (the high availability of NVFLARE 2.6 and "
                           "earlier) are not supported: keep the one the clients should connect to" if len(servers) > 1 else ""))
    check_relays(parts, labels)
    builders = project.get("builders")
    if builders and not isinstance(builders, list):
        raise SpecError("builders", "%s has 'builders' as %s; it is a list of {path, args} entries, one per builder, "
                        "in NVFLARE's order (or leave it out for NVFLARE's sample list)"
                        % (path, "a mapping" if isinstance(builders, dict) else "a %s" % type(builders).__name__))
    if not builders:
        server = [p for p in parts if p["type"] == "server"][0]
        project["builders"] = default_builders(root_valid_days(project), nvflare_version, server)
    elif not any(isinstance(b, dict) and str(b.get("path", "")).endswith(".CertBuilder") for b in project["builders"]):
        raise SpecError("project_file", "%s has no CertBuilder among its builders: the module keeps the root CA and "
                        "every participant's key in state/cert.json, which NVFLARE's CertBuilder writes, and a kit "
                        "without certificates cannot join a federation; add {path: nvflare.lighter.impl.cert."
                        "CertBuilder} (before SignatureBuilder), or leave out 'builders' for NVFLARE's sample list"
                        % path)
    else:
        for suffix, what in (("WorkspaceBuilder", "makes every kit's folders (first in the list)"),
                             ("StaticFileBuilder", "writes every kit's fed_*.json and start scripts, without which "
                              "no participant can start")):
            if compat.find_builder(project, suffix) is None:
                module = "workspace" if suffix == "WorkspaceBuilder" else "static_file"
                raise SpecError("project_file", "%s has no %s among its builders: NVFLARE's %s %s; add {path: "
                                "nvflare.lighter.impl.%s.%s} as in NVFLARE's sample project.yml, or leave out "
                                "'builders' for that list" % (path, suffix, suffix, what, module, suffix))
    validate_project(project, labels, source="project_file", nvflare_version=nvflare_version)
    return project, labels, {}


def _custom_role(role):
    """A role NVFLARE provisions (a simple name) that is none of its defined roles: a site's authorization.json
    may grant it rights. super and a defined role in other case are mistakes (NVFLARE's default policy has neither)."""
    return (isinstance(role, str) and re.match(r"^[A-Za-z0-9_]+$", role) is not None and role != "super"
            and role.lower() not in ADMIN_ROLES)


def custom_role_warnings(project):
    """One warning per admin whose role is none of NVFLARE's defined roles (NVFLARE 2.9 warns too)."""
    defined = ", ".join(ADMIN_ROLES)
    return ["admin %r has the role %r, none of NVFLARE's own (%s): NVFLARE's default authorization policy gives it no "
            "rights; grant them in each site's local/authorization.json" % (p.get("name"), p.get("role"), defined)
            for p in project.get("participants") or [] if p.get("type") == "admin" and _custom_role(p.get("role"))]


def validate_project(project, labels, source, nvflare_version=None):
    accepted = compat.api_versions(nvflare_version)
    if project.get("api_version") not in accepted:
        raise SpecError("api_version" if source == "project_file" else "project_name",
                        "NVFLARE %s needs api_version %s, got %r%s"
                        % (nvflare_version or "2.9", " or ".join(str(v) for v in accepted),
                           project.get("api_version"),
                           "" if 4 in accepted else " (api_version 4 needs nvflare 2.8 or later)"))
    name = project.get("name")
    if not isinstance(name, str) or not PROJECT_NAME_RE.match(name):
        raise SpecError("project_name" if source == "options" else "project_file.name",
                        "%r is not a usable project name: %s" % (name, PROJECT_NAME_HINT))


def validate_with_nvflare(project, labels, nvflare_version=None):
    """Run NVFLARE's own participant validation (names, orgs, host names, roles) and load every builder class.
    Imports nvflare (any 2.4-2.9 line, see _flare_compat)."""
    name_check = compat.name_check
    for i, path, why in compat.check_builders(project, nvflare_version or "2.9"):
        raise SpecError("builders[%d].path" % i, "%r: %s" % (path, why))
    for p in project["participants"]:
        field = labels.get(p["name"], p["name"])
        ptype = p["type"]
        too_long = name_length_error(p["name"], ptype)
        if too_long:
            raise SpecError(field + ".name", too_long)
        err, reason = name_check(p["name"], ptype if ptype != "relay" else "relay")
        if err:
            raise SpecError(field + ".name", "NVFLARE rejects %s name %r; %s" % (ptype, p["name"], NAME_HINTS[ptype]))
        err, reason = name_check(p["org"], "org")
        if err:
            raise SpecError(field + ".org", "NVFLARE rejects org %r; %s" % (p["org"], NAME_HINTS["org"]))
        try:
            compat.make_participant(p)
        except (ValueError, TypeError) as exc:
            raise SpecError(field, "NVFLARE rejects this participant: %s" % exc) from exc


# Builders whose output in a kit depends on that participant, the server settings and the root CA only. Any other
# builder may write what every kit must share and makes new each run: NVFLARE's HEBuilder writes one new TenSEAL
# context into every kit, so a client added alone would get a context the others do not have; its DockerBuilder
# writes one compose.yaml of every participant, which a client added alone would get with only itself and the server.
PER_KIT_BUILDERS = frozenset("nvflare.lighter.impl." + b for b in (
    "workspace.WorkspaceBuilder", "template.TemplateBuilder", "static_file.StaticFileBuilder", "cert.CertBuilder",
    "signature.SignatureBuilder"))


def is_incremental(project):
    """True when each kit depends only on its own participant and the server settings: then a change builds only the
    kits it concerns. Else every kit is built again together, as NVFLARE's own provisioning does."""
    if project.get("studies"):
        return False
    if any(not isinstance(b, dict) or b.get("path") not in PER_KIT_BUILDERS for b in project.get("builders") or []):
        return False
    # relays are incremental too: what a kit takes from other participants is in kit_links()
    for p in project["participants"]:
        if any(p.get(k) for k in CROSS_KIT_PROPS):
            return False
    return True


def root_valid_days(project):
    for b in project.get("builders") or []:
        if isinstance(b, dict) and b.get("path", "").endswith("CertBuilder"):
            args = b.get("args") or {}
            return args.get("root_valid_days", DEFAULT_CA_VALIDITY_DAYS)
    return DEFAULT_CA_VALIDITY_DAYS
