# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""NVFLARE 2.4.x-2.9.x provisioning API differences, in one place.

Checked against the released wheels of 2.4.2, 2.5.2, 2.6.3, 2.7.3, 2.8.3 and 2.9.0:

========  =====================================================================================
2.4, 2.5  ``nvflare.lighter.spec.Provisioner(root_dir, builders).provision(project)`` returns a plain
          dict (``current_prod_dir``); a builder exception is printed and the partial prod_NN removed.
          ``provision.prepare_project/prepare_builders``; ``spec.Participant(**dict)`` validates.
          Sample project.yml: WorkspaceBuilder, TemplateBuilder, StaticFileBuilder with a
          DummyOverseerAgent (``sp_end_point`` server:fl_port:admin_port, used verbatim), CertBuilder
          (no arguments), SignatureBuilder. Server certificates name only the server (no default_host,
          no host_names). 2.4 has no connection_security.
2.6       ``nvflare.lighter.provisioner.Provisioner(root_dir, builders).provision(project, logger=)`` ->
          ProvisionContext (``get_result_location()``); ``entity.participant_from_dict``;
          ``provision.prepare_builders``; relays, default_host, host_names. Sample still has the
          overseer agent (its sp_end_point is recomputed per participant).
2.7, 2.8  ``prov_utils.prepare_builders/prepare_packager``; ``Provisioner(root_dir, builders, packager)``;
          no overseer agent. 2.8 accepts api_version 4 and lets admin_port default to fed_learn_port.
2.9       as 2.8, plus ``CertBuilder(root_valid_days=...)`` and ``CtxKey.BUILD_ERROR``.
========  =====================================================================================

Nothing here imports nvflare at import time: the spec functions run in the controller (filters) too.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import importlib
import io
import os
import re
import stat

RELAY_MIN = (2, 6)
CONN_SECURITY_MIN = (2, 5)
DEFAULT_HOST_MIN = (2, 6)
SHARED_ADMIN_PORT_MIN = (2, 7)  # 2.7's server serves the admin on fed_learn_port (fed_server.py)
API_VERSION_4_MIN = (2, 8)
OVERSEER_MAX = (2, 6)  # the last minor line whose sample project.yml carries the overseer agent
TEMPLATE_BUILDER_MAX = (2, 5)  # the last minor line whose sample project.yml lists the TemplateBuilder
OLDEST = (2, 4)
NEWEST = (2, 9)
TESTED = ("2.4.2", "2.5.2", "2.6.3", "2.7.3", "2.8.3", "2.9.0")


def version_tuple(text):
    """'2.9.0rc1' -> (2, 9, 0): the leading numeric release parts."""
    out = []
    for part in str(text).split("."):
        m = re.match(r"^(\d+)", part)
        if not m:
            break
        out.append(int(m.group(1)))
        if m.group(1) != part:
            break
    return tuple(out)


def minor(version):
    """(2, 9) for '2.9.0'; None for no version (taken as the newest line)."""
    if version is None:
        return NEWEST
    return version_tuple(version)[:2]


def api_versions(version):
    return (3, 4) if minor(version) >= API_VERSION_4_MIN else (3,)


def default_builders(version, ca_validity_days, server=None):
    """The builder list of NVFLARE's own sample project.yml of that minor line (cloud templates left out).

    ``server`` (name, fed_learn_port, admin_port) fills the overseer agent's sp_end_point on <= 2.6.
    """
    line = minor(version)
    # 2.4's WorkspaceBuilder takes one template file name, later ones a list too
    template = "master_template.yml" if line < (2, 5) else ["master_template.yml"]
    workspace = {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder", "args": {"template_file": template}}
    static = {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {"config_folder": "config"}}
    if line <= OVERSEER_MAX:
        server = server or {}
        static["args"]["overseer_agent"] = {
            "path": "nvflare.ha.dummy_overseer_agent.DummyOverseerAgent",
            "overseer_exists": False,
            "args": {"sp_end_point": "%s:%s:%s" % (server.get("name", "server1"), server.get("fed_learn_port", 8002),
                                                   server.get("admin_port", 8003))},
        }
    builders = [workspace]
    if line <= TEMPLATE_BUILDER_MAX:
        builders.append({"path": "nvflare.lighter.impl.template.TemplateBuilder"})
    builders.append(static)
    if cert_builder_has_root_valid_days(version):
        builders.append({"path": "nvflare.lighter.impl.cert.CertBuilder", "args": {"root_valid_days": ca_validity_days}})
    else:
        builders.append({"path": "nvflare.lighter.impl.cert.CertBuilder"})
    builders.append({"path": "nvflare.lighter.impl.signature.SignatureBuilder"})
    return builders


def cert_builder_has_root_valid_days(version):
    """NVFLARE 2.9 added CertBuilder(root_valid_days); older CertBuilders take no argument."""
    return minor(version) >= (2, 9)


def unsupported(project, version):
    """[(participant name or None, option, message)] for what this NVFLARE line cannot provision.

    Checked before anything is written. ``host_names`` before 2.6 is not here: see warnings().
    """
    line = minor(version)
    out = []
    if project.get("api_version") not in api_versions(version):
        out.append((None, "api_version", "nvflare %s accepts api_version %s only, the project has %r; write the "
                    "project.yml for that version (api_version 4 needs nvflare 2.8 or later)"
                    % (version, " or ".join(str(v) for v in api_versions(version)), project.get("api_version"))))
    if line < CONN_SECURITY_MIN and project.get("connection_security"):
        out.append((None, "connection_security", "nvflare %s has no connection_security (2.5 added it); remove "
                    "it, or provision with nvflare 2.5 or later" % version))
    out.extend(_builder_list_problems(project, version))
    for p in project.get("participants") or []:
        name = p.get("name")
        if line < DEFAULT_HOST_MIN and isinstance(p.get("listening_host"), dict):
            out.append((name, "listening_host", "nvflare %s takes listening_host as a host name only (2.6 added the "
                        "mapping form); give the name, or provision with nvflare 2.6 or later" % version))
        if line < CONN_SECURITY_MIN and p.get("connection_security"):
            out.append((name, "connection_security", "nvflare %s has no connection_security (2.5 added it); "
                        "remove it, or provision with nvflare 2.5 or later" % version))
        if p.get("type") == "relay" and line < RELAY_MIN:
            out.append((name, "type", "relay participants need nvflare 2.6.0 or later, the control node has "
                        "nvflare %s; provision without relays, or use nvflare >= 2.6 on the control node and "
                        "the hosts" % version))
        if line < DEFAULT_HOST_MIN and p.get("default_host"):
            out.append((name, "default_host", "nvflare %s has no default_host (2.6 added it): its clients and "
                        "admins dial the server by its name %r (the hosts role's /etc/hosts entry); remove "
                        "default_host, or provision with nvflare 2.6 or later" % (version, name)))
        if line < DEFAULT_HOST_MIN and p.get("connect_to"):
            out.append((name, "connect_to", "nvflare %s has no connect_to (2.6 added it); remove it" % version))
        if p.get("type") == "server" and line < SHARED_ADMIN_PORT_MIN:
            fed, adm = p.get("fed_learn_port", 8002), p.get("admin_port", 8003)
            if fed == adm:
                out.append((name, "admin_port", "nvflare %s needs an admin port separate from fed_learn_port "
                            "(both %s); one shared port needs nvflare 2.7 or later: set admin_port to another "
                            "port (e.g. 8003)" % (version, fed)))
    return out


def find_builder(project, suffix):
    """The first builder entry whose class name ends with SUFFIX (a subclass of one's own counts), else None."""
    for b in project.get("builders") or []:
        if isinstance(b, dict) and str(b.get("path", "")).rsplit(".", 1)[-1].endswith(suffix):
            return b
    return None


def _args(builder):
    args = builder.get("args") if builder else None
    return args if isinstance(args, dict) else {}


def _builder_list_problems(project, version):
    """What a project's own builder list needs on this NVFLARE line: 2.4's WorkspaceBuilder takes one template file,
    2.4 and 2.5 need the TemplateBuilder, and 2.4 to 2.6 kits find the server only through StaticFileBuilder's
    overseer agent (a DummyOverseerAgent naming the server; 2.4 and 2.5 copy its sp_end_point into every kit as it
    is). A project.yml written for a later line misses them, and NVFLARE then fails with a traceback or, worse,
    writes kits that cannot reach the server."""
    line = minor(version)
    out = []
    sample = "or leave out 'builders' for that version's own list"
    workspace = find_builder(project, "WorkspaceBuilder")
    templates = _args(workspace).get("template_file")
    if line < (2, 5) and isinstance(templates, list) and len(templates) > 1:
        out.append((None, "builders", "nvflare %s's WorkspaceBuilder takes one template_file, the project lists %s "
                    "(a project.yml of 2.5 or later): give template_file: master_template.yml, %s"
                    % (version, ", ".join(str(t) for t in templates), sample)))
    if line <= TEMPLATE_BUILDER_MAX and workspace is not None and find_builder(project, "TemplateBuilder") is None:
        out.append((None, "builders", "nvflare %s needs the TemplateBuilder after the WorkspaceBuilder, the project "
                    "has none (a project.yml of 2.6 or later): add {path: nvflare.lighter.impl.template."
                    "TemplateBuilder}, %s" % (version, sample)))
    if line <= TEMPLATE_BUILDER_MAX and find_builder(project, "HelmChartBuilder") is not None:
        out.append((None, "builders", "nvflare %s's HelmChartBuilder needs an overseer participant, the high "
                    "availability this module does not provision: remove the HelmChartBuilder, or provision with "
                    "nvflare 2.6 or later" % version))
    static = find_builder(project, "StaticFileBuilder")
    if line <= OVERSEER_MAX and static is not None:
        out.extend(_overseer_agent_problems(project, version, _args(static).get("overseer_agent"), sample))
    return out


def _overseer_agent_problems(project, version, agent, sample):
    servers = [p for p in project.get("participants") or [] if isinstance(p, dict) and p.get("type") == "server"]
    server = servers[0] if len(servers) == 1 else {}
    want = "%s:%s:%s" % (server.get("name", "<server>"), server.get("fed_learn_port", 8002),
                         server.get("admin_port", 8003))
    example = ("overseer_agent: {path: nvflare.ha.dummy_overseer_agent.DummyOverseerAgent, overseer_exists: false, "
               "args: {sp_end_point: '%s'}}" % want)
    if not isinstance(agent, dict) or not agent.get("path"):
        return [(None, "builders", "nvflare %s kits find the server only through StaticFileBuilder's overseer_agent, "
                 "the project has none (a project.yml of 2.7 or later): give StaticFileBuilder %s, %s"
                 % (version, example, sample))]
    if not str(agent["path"]).endswith(".DummyOverseerAgent"):
        return [(None, "builders", "StaticFileBuilder's overseer_agent %s needs an overseer, the high availability "
                 "this module does not provision (every kit would get an empty overseer end point): give it %s, %s"
                 % (agent["path"], example, sample))]
    end_point = _args(agent).get("sp_end_point")
    if minor(version) <= TEMPLATE_BUILDER_MAX and server and str(end_point) != want:
        return [(None, "builders", "nvflare %s copies the overseer agent's sp_end_point %r into every kit as it is, "
                 "and the server is %s (name:fed_learn_port:admin_port): give sp_end_point: '%s'"
                 % (version, end_point, want, want))]
    return []


def warnings(project, version):
    """Documented defaults that change what a kit contains on this NVFLARE line (reported, never silent)."""
    out = []
    if minor(version) < DEFAULT_HOST_MIN:
        for p in project.get("participants") or []:
            if p.get("type") == "server" and p.get("host_names"):
                out.append("nvflare %s has no server host_names (2.6 added them): the server certificate names "
                           "only %r and clients dial that name (the hosts role's /etc/hosts entry); host_names %s "
                           "left out" % (version, p["name"], ", ".join(p["host_names"])))
    return out


def check_builders(project, version):
    """[(index, path, reason)] for builder classes this nvflare cannot load (imports nvflare)."""
    out = []
    for i, b in enumerate(project.get("builders") or []):
        path = b.get("path") if isinstance(b, dict) else None
        if not isinstance(path, str) or "." not in path:
            out.append((i, path, "needs a 'path' naming a builder class (module.Class)"))
            continue
        mod, cls = path.rsplit(".", 1)
        try:
            found = getattr(importlib.import_module(mod), cls, None)
        except ImportError as exc:
            found = None
            why = str(exc)
            missing = getattr(exc, "name", None) or ""
            if missing and missing.split(".", maxsplit=1)[0] not in ("nvflare", mod.split(".", maxsplit=1)[0]):
                # the builder's own module is there, a package it imports is not (HEBuilder: tenseal)
                out.append((i, path, "it needs the Python package %r, which the control node's Python does not have "
                            "(%s): install it next to nvflare there (HEBuilder: pip install tenseal), or remove "
                            "the builder" % (missing, why)))
                continue
        else:
            why = "module %s has no %s" % (mod, cls)
        if found is None:
            out.append((i, path, "nvflare %s cannot load it (%s); remove it or use that version's builder list "
                        "(its own 'nvflare provision' sample project.yml)" % (version, why)))
            continue
        args = b.get("args") if isinstance(b.get("args"), dict) else {}
        dropped = _dropped_args(found, args)
        if dropped:
            names = ", ".join(repr(a) for a in dropped)
            out.append((i, path, "nvflare %s's %s has no argument %s and would drop it without a word; fix its name "
                        "or remove it (its arguments: %s)" % (version, cls, names,
                                                              ", ".join(_named_params(found)) or "none")))
        missing = _missing_templates(found, args, version)
        if missing:
            out.append((i, path, "nvflare %s has no template file %s; its own are %s"
                        % (version, ", ".join(repr(t) for t in missing), ", ".join(_templates(found)) or "none")))
    return out


# Accepted and ignored by the builders of NVFLARE 2.7 and later (**kwargs): the overseer agent of a 2.6 or earlier
# project.yml, which those lines no longer use.
_IGNORED_ARGS = frozenset(["overseer_agent"])


def _init_params(cls):
    """The parameters of CLS's own __init__ (one a class in its MRO defines, not object's); None when it has none."""
    import inspect

    for klass in cls.__mro__:
        if klass is object:
            return None
        if "__init__" in vars(klass):
            return list(inspect.signature(klass.__init__).parameters.values())[1:]
    return None


def _named_params(cls):
    return [p.name for p in _init_params(cls) or [] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _dropped_args(cls, args):
    """The ARGS a builder whose __init__ takes **kwargs accepts without using them (2.7's StaticFileBuilder dropped
    a misspelt config_folder, leaving every sub_start.sh with an empty one). A builder without **kwargs refuses an
    unknown argument itself, with NVFLARE's own message."""
    import inspect

    params = _init_params(cls)
    if not params or not any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params):
        return []
    named = set(_named_params(cls))
    return sorted(a for a in args if a not in named and a not in _IGNORED_ARGS)


def _templates(cls):
    """The template files a WorkspaceBuilder of 2.4 or 2.5 can copy: the .yml files next to its module."""
    import sys

    folder = os.path.dirname(os.path.abspath(getattr(sys.modules.get(cls.__module__), "__file__", "") or ""))
    try:
        return sorted(f for f in os.listdir(folder) if f.endswith(".yml"))
    except OSError:
        return []


def _missing_templates(cls, args, version):
    """2.4 and 2.5 copy each template file from the WorkspaceBuilder's own folder, and a name that is not there was a
    FileNotFoundError traceback; 2.6 and later say which file they miss themselves."""
    if minor(version) > TEMPLATE_BUILDER_MAX or not cls.__name__.endswith("WorkspaceBuilder"):
        return []
    names = args.get("template_file")
    names = [names] if isinstance(names, str) else names if isinstance(names, list) else []
    have = _templates(cls)
    return [n for n in names if n not in have] if have else []


def make_participant(p):
    """NVFLARE's own participant object (it validates names, orgs and properties); ValueError when refused. What it
    prints (2.9: a warning for an admin role of the sites' own) would corrupt the module's JSON on stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            from nvflare.lighter.entity import participant_from_dict
        except ImportError:  # 2.4, 2.5
            from nvflare.lighter.spec import Participant

            return Participant(**copy.deepcopy(p))
        return participant_from_dict(copy.deepcopy(p))


def name_check(name, kind):
    from nvflare.apis.utils.format_check import name_check as check

    return check(name, kind)


def _utc(dt):
    return dt if dt.tzinfo else dt.replace(tzinfo=datetime.timezone.utc)


def _not_after(cert):
    return getattr(cert, "not_valid_after_utc", None) or _utc(cert.not_valid_after)


def edgefl_cert_builder(builder, ca_days, cert_days):
    """Turn NVFLARE's CertBuilder instance into one with our lifetimes (any 2.4-2.9 CertBuilder).

    A new root CA for ``ca_days``; participant certificates for ``cert_days``, capped by the root CA's end
    (as 2.9 caps them); an existing root CA accepted as it is. The signing stays NVFLARE's.
    """
    from nvflare.lighter.impl.cert import CertBuilder

    if not isinstance(builder, CertBuilder):
        return builder
    if hasattr(CertBuilder, "_validate_existing_root_validity"):
        builder.__class__ = _cert_builder_29(CertBuilder, cert_days)
        builder.root_valid_days = ca_days
        return builder

    class EdgeflCertBuilder(CertBuilder):
        """2.4-2.8: every certificate goes through _generate_cert(..., valid_days=360, ca=False, ...)."""

        def _generate_cert(self, *args, **kwargs):
            if kwargs.get("ca"):
                days = ca_days
            else:
                now = datetime.datetime.now(datetime.timezone.utc)
                root_end = _not_after(self.root_cert)
                left = (root_end - now).total_seconds() / 86400.0
                if left <= 0:
                    raise RuntimeError("cannot generate a certificate: root CA expired at %s (rotate_ca makes "
                                       "a new one)" % root_end.isoformat())
                days = min(float(cert_days), left - 1.0 / 86400)
            if len(args) > 5:
                args = args[:5] + (days,) + args[6:]
            else:
                kwargs["valid_days"] = days
            return super(EdgeflCertBuilder, self)._generate_cert(*args, **kwargs)

    builder.__class__ = EdgeflCertBuilder
    return builder


def _cert_builder_29(CertBuilder, cert_days):
    from nvflare.lighter.constants import ParticipantType, PropKey
    from nvflare.lighter.utils import generate_keys

    class EdgeflCertBuilder(CertBuilder):
        """2.9: participant lifetimes are fixed in get_pri_key_cert; an existing root CA is refused unless its
        validity equals root_valid_days."""

        def _validate_existing_root_validity(self):
            return None

        def get_pri_key_cert(self, participant):
            pri_key, pub_key = generate_keys()
            role = participant.get_prop(PropKey.ROLE) if participant.type == ParticipantType.ADMIN else None
            now = datetime.datetime.now(datetime.timezone.utc)
            root_not_after = self.root_cert.not_valid_after_utc
            if root_not_after <= now:
                raise RuntimeError("cannot generate certificate for '%s': root CA expired at %s (rotate_ca makes "
                                   "a new one)" % (participant.name, root_not_after.isoformat()))
            not_after = min(root_not_after, now + datetime.timedelta(days=cert_days))
            server = participant if participant.type == ParticipantType.SERVER else None
            cert = self._generate_cert(participant.subject, participant.org, self.issuer, self.pri_key, pub_key,
                                       role=role, server=server, not_valid_before=now, not_valid_after=not_after)
            return pri_key, cert

    return EdgeflCertBuilder


def _for_nvflare(project_dict, version):
    """The project dict as this nvflare line takes it: a one-file template list as the name on 2.4, no CertBuilder
    root_valid_days before 2.9 (our CertBuilder applies the lifetime), and no server host_names before 2.6 (see
    warnings())."""
    project_dict = copy.deepcopy(project_dict)
    workspace = find_builder(project_dict, "WorkspaceBuilder")
    if minor(version) < (2, 5) and isinstance(_args(workspace).get("template_file"), list):
        # 2.4 takes one file name; a longer list is refused by unsupported()
        workspace["args"]["template_file"] = workspace["args"]["template_file"][0]
    if not cert_builder_has_root_valid_days(version):
        for b in project_dict.get("builders") or []:
            if isinstance(b, dict) and str(b.get("path", "")).endswith("CertBuilder") and b.get("args"):
                b["args"].pop("root_valid_days", None)
                if not b["args"]:
                    b.pop("args")
    if minor(version) < DEFAULT_HOST_MIN:
        for p in project_dict.get("participants") or []:
            if p.get("type") == "server":
                p.pop("host_names", None)
    return project_dict


class ProvisionFailed(Exception):
    def __init__(self, msg, messages):
        super().__init__(msg)
        self.msg = msg
        self.messages = messages


class Collector:
    """Logger for Provisioner (2.6+): keeps NVFLARE's messages out of the module's JSON output."""

    def __init__(self):
        self.messages = []

    def _add(self, level, msg):
        self.messages.append("%s: %s" % (level, msg))

    def info(self, msg):
        self._add("INFO", msg)

    def debug(self, msg):
        self._add("DEBUG", msg)

    def warning(self, msg):
        self._add("WARNING", msg)

    def error(self, msg):
        self._add("ERROR", msg)


def provision(project_dict, root_dir, version, ca_days, cert_days, warnings=None):
    """Run this nvflare's Provisioner on ``project_dict`` under ``root_dir``; return the prod_NN it wrote.

    Raises ProvisionFailed (with NVFLARE's messages) when it raised or, as every version does with a builder
    exception, swallowed an error and removed its partial prod_NN. ``warnings``: a list that gets NVFLARE's own
    warnings of a run that succeeded (logged, or printed as "WARNING: ..."), each once.
    """
    from nvflare.lighter.provision import prepare_project

    try:
        from nvflare.lighter.prov_utils import prepare_builders, prepare_packager  # 2.7+
    except ImportError:
        from nvflare.lighter.provision import prepare_builders  # 2.4-2.6

        prepare_packager = None
    try:
        from nvflare.lighter.provisioner import Provisioner  # 2.6+
        takes_logger = True
    except ImportError:
        from nvflare.lighter.spec import Provisioner  # 2.4, 2.5

        takes_logger = False
    project_dict = _for_nvflare(project_dict, version)
    logger = Collector()
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            project = prepare_project(project_dict)
            builders = [edgefl_cert_builder(b, ca_days, cert_days) for b in prepare_builders(project_dict)]
            if prepare_packager is not None:
                provisioner = Provisioner(root_dir, builders, prepare_packager(project_dict))
            else:
                provisioner = Provisioner(root_dir, builders)
            ctx = provisioner.provision(project, logger=logger) if takes_logger else provisioner.provision(project)
    except (ValueError, RuntimeError, TypeError, KeyError) as exc:
        raise ProvisionFailed("NVFLARE provisioning failed: %s" % exc, logger.messages + _lines(out))
    printed = _lines(out)
    errors = [m for m in logger.messages if m.startswith("ERROR")]
    if any("Exception raised during provision" in line for line in printed):  # 2.4, 2.5
        tail = [line for line in printed if line.strip()][-3:]
        errors.append(" ".join(tail) or "a builder raised an exception")
    build_error = False
    try:
        from nvflare.lighter.constants import CtxKey

        build_error = bool(getattr(CtxKey, "BUILD_ERROR", None) and ctx.get(CtxKey.BUILD_ERROR))
    except ImportError:
        pass
    result = ctx.get_result_location() if hasattr(ctx, "get_result_location") else ctx.get("current_prod_dir")
    if build_error or errors or not result or not os.path.isdir(result):
        raise ProvisionFailed("NVFLARE provisioning failed: %s" % ("; ".join(errors) or "a builder raised an error"),
                              logger.messages + printed)
    if warnings is not None:
        for line in [m for m in logger.messages if m.startswith("WARNING")] + printed:
            text = line[len("OUTPUT: "):] if line.startswith("OUTPUT: ") else line
            if text.upper().startswith("WARNING") and text not in warnings:
                warnings.append(text)
    lock_private_keys(result)
    return result


def lock_private_keys(prod_dir):
    """Private keys 0600: NVFLARE before 2.8 writes them with the process umask (0644 under the usual 022)."""
    for dirpath, _dirs, files in os.walk(prod_dir):
        for fn in files:
            full = os.path.join(dirpath, fn)
            if fn.endswith(".key") and not os.path.islink(full) and stat.S_IMODE(os.lstat(full).st_mode) != 0o600:
                os.chmod(full, 0o600)


def _lines(buf):
    return ["OUTPUT: %s" % line for line in buf.getvalue().splitlines() if line.strip()][-40:]
