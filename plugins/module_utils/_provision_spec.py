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

DEFAULT_ORG = "nvidia"
DEFAULT_FED_LEARN_PORT = 8002
DEFAULT_ADMIN_PORT = 8003
DEFAULT_CERT_VALIDITY_DAYS = 360
ADMIN_ROLES = ("project_admin", "org_admin", "lead", "member")
CONNECTION_SECURITY = ("clear", "tls", "mtls")
PARTICIPANT_TYPES = ("server", "client", "admin", "relay")
# Properties that make one participant's kit depend on other participants.
CROSS_KIT_PROPS = ("parent", "auth_identity")

PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# The same patterns NVFLARE 2.9 applies (nvflare.apis.utils.format_check); the
# authoritative check is NVFLARE's own, run by validate_with_nvflare() whenever
# the spec differs from the one NVFLARE already accepted for this workspace.
_HOST_NAME_RE = re.compile(
    r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$"
)
_DOTTED_NUMERIC_RE = re.compile(r"^[0-9.]+$")


class SpecError(ValueError):
    """Invalid input; ``field`` names the option at fault, the message says how to fix it."""

    def __init__(self, field, msg):
        super().__init__("%s: %s" % (field, msg))
        self.field = field
        self.msg = "%s: %s" % (field, msg)


def default_builders(cert_validity_days=DEFAULT_CERT_VALIDITY_DAYS):
    """The builder list of NVFLARE's sample project.yml (2.9), cloud templates left out."""
    return [
        {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder", "args": {"template_file": ["master_template.yml"]}},
        {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {"config_folder": "config"}},
        {"path": "nvflare.lighter.impl.cert.CertBuilder", "args": {"root_valid_days": cert_validity_days}},
        {"path": "nvflare.lighter.impl.signature.SignatureBuilder"},
    ]


def _is_ip(value):
    try:
        import netaddr
    except ImportError as exc:  # pragma: no cover - netaddr is in requirements.txt
        raise SpecError("host_names", "the Python library netaddr is missing on the control node: pip install netaddr") from exc
    return bool(netaddr.valid_ipv4(value, netaddr.INET_PTON) or netaddr.valid_ipv6(value))


def check_address(field, value):
    """An IP address (checked with netaddr) or a DNS host name (NVFLARE's host_name rule)."""
    if not isinstance(value, str) or not value:
        raise SpecError(field, "must be a non-empty string (an IP address or a host name), got %r" % (value,))
    ip_like = ":" in value or _DOTTED_NUMERIC_RE.match(value)
    if ip_like and _is_ip(value):
        return value
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
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(field, "must be an integer port number between 1 and 65535, got %r" % (value,))
    if not 1 <= value <= 65535:
        raise SpecError(field, "port %d is outside 1-65535; choose a port in that range" % value)
    return value


def _check_str(field, value):
    if not isinstance(value, str) or not value:
        raise SpecError(field, "must be a non-empty string, got %r" % (value,))
    return value


def _resolve_ports(field, server, fed_learn_explicit, admin_explicit):
    fed = server.get("fed_learn_port")
    adm = server.get("admin_port")
    if fed is None:
        fed = DEFAULT_FED_LEARN_PORT
    if adm is None:
        adm = DEFAULT_ADMIN_PORT
    check_port(field + ".fed_learn_port", fed)
    check_port(field + ".admin_port", adm)
    if fed == adm and not (fed_learn_explicit and admin_explicit):
        raise SpecError(
            field + ".admin_port",
            "admin_port and fed_learn_port would both be %d; NVFLARE 2.9 can share one port, but only "
            "when you set both fed_learn_port and admin_port explicitly - set admin_port (default %d) "
            "to another port or set both explicitly" % (fed, DEFAULT_ADMIN_PORT),
        )
    server["fed_learn_port"] = fed
    server["admin_port"] = adm


def from_options(params):
    """Module options -> (project_dict, labels, hosts). ``labels`` maps name -> option path."""
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
            raise SpecError(field + ".name", "duplicate participant name %r (also %s); every server, client and "
                            "admin needs a unique name" % (name, seen[name]))
        seen[name] = field + ".name"
        labels[name] = field
        participants.append(entry)

    for i, client in enumerate(params.get("clients") or []):
        field = "clients[%d]" % i
        entry = {"name": _check_str(field + ".name", client.get("name")), "type": "client",
                 "org": client.get("org") or org_default}
        if client.get("host"):
            hosts[entry["name"]] = check_address(field + ".host", client["host"])
        _add(field, entry)
    for i, admin in enumerate(params.get("admins") or []):
        field = "admins[%d]" % i
        role = admin.get("role") or "project_admin"
        if role not in ADMIN_ROLES:
            raise SpecError(field + ".role", "unknown admin role %r; use one of %s" % (role, ", ".join(ADMIN_ROLES)))
        entry = {"name": _check_str(field + ".name", admin.get("name")), "type": "admin",
                 "org": admin.get("org") or org_default, "role": role}
        _add(field, entry)
    validity = params.get("cert_validity_days")
    if validity is None:
        validity = DEFAULT_CERT_VALIDITY_DAYS
    if isinstance(validity, bool) or not isinstance(validity, int) or validity <= 0:
        raise SpecError("cert_validity_days", "must be a positive number of days, got %r" % (validity,))
    project = {
        "api_version": 3,
        "name": project_name,
        "description": "Provisioned by edgefl.nvflare.provision",
        "participants": participants,
        "builders": default_builders(validity),
    }
    validate_project(project, labels, source="options")
    return project, labels, hosts


def from_project_file(path, data):
    """A parsed project.yml -> (project_dict, labels, hosts). Raises SpecError naming the field."""
    if not isinstance(data, dict) or not data:
        raise SpecError("project_file", "%s is empty or not a YAML mapping; give a NVFLARE project.yml" % path)
    project = copy.deepcopy(data)
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
            for j, h in enumerate(p.get("host_names") or []):
                check_address("%s.host_names[%d]" % (field, j), h)
        if ptype == "admin":
            role = p.get("role")
            if role not in ADMIN_ROLES:
                raise SpecError(field + ".role", "unknown admin role %r; use one of %s"
                                % (role, ", ".join(ADMIN_ROLES)))
    if len(servers) != 1:
        raise SpecError("project_file", "%s must define exactly one participant of type server, found %d%s"
                        % (path, len(servers), (" (" + ", ".join(servers) + ")") if servers else ""))
    if not project.get("builders"):
        project["builders"] = default_builders()
    validate_project(project, labels, source="project_file")
    return project, labels, {}


def validate_project(project, labels, source):
    if project.get("api_version") not in (3, 4):
        raise SpecError("api_version" if source == "project_file" else "project_name",
                        "NVFLARE 2.9 needs api_version 3 or 4, got %r" % (project.get("api_version"),))
    name = project.get("name")
    if not isinstance(name, str) or not PROJECT_NAME_RE.match(name):
        raise SpecError("project_name" if source == "options" else "project_file.name",
                        "%r is not a usable project name: 1-63 characters, letters, digits, '_', '-', '.', "
                        "starting with a letter or digit" % (name,))


def validate_with_nvflare(project, labels):
    """Run NVFLARE's own participant validation (names, orgs, host names, roles). Imports nvflare."""
    from nvflare.apis.utils.format_check import name_check
    from nvflare.lighter.entity import participant_from_dict

    for p in project["participants"]:
        field = labels.get(p["name"], p["name"])
        ptype = p["type"]
        err, reason = name_check(p["name"], ptype if ptype != "relay" else "relay")
        if err:
            hint = {
                "server": "use a DNS-style host name (letters, digits, '-', '.')",
                "client": "use letters, digits, '-' and '_' only",
                "admin": "use an e-mail address",
                "relay": "use letters, digits, '-' and '_' only",
            }[ptype]
            raise SpecError(field + ".name", "NVFLARE rejects %s name %r; %s" % (ptype, p["name"], hint))
        err, reason = name_check(p["org"], "org")
        if err:
            raise SpecError(field + ".org", "NVFLARE rejects org %r; use letters, digits and '_' only" % p["org"])
        try:
            participant_from_dict(copy.deepcopy(p))
        except ValueError as exc:
            raise SpecError(field, "NVFLARE rejects this participant: %s" % exc) from exc


def is_incremental(project):
    """True when each kit depends only on its own participant and the server settings."""
    if project.get("studies"):
        return False
    for p in project["participants"]:
        if p["type"] == "relay":
            return False
        if any(p.get(k) for k in CROSS_KIT_PROPS):
            return False
    return True


def root_valid_days(project):
    for b in project.get("builders") or []:
        if isinstance(b, dict) and b.get("path", "").endswith("CertBuilder"):
            args = b.get("args") or {}
            return args.get("root_valid_days", DEFAULT_CERT_VALIDITY_DAYS)
    return DEFAULT_CERT_VALIDITY_DAYS
