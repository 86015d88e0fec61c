# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""edgefl.nvflare.provision: options -> spec -> plan -> (apply) -> result."""

from __future__ import annotations

import os

from ansible_collections.edgefl.nvflare.plugins.module_utils._base import EdgeflModule, ModuleError
from ansible_collections.edgefl.nvflare.plugins.module_utils._provision import (
    Layout,
    Options,
    Plan,
    WorkspaceLock,
    apply,
    check_names,
    installed_nvflare_version,
    prune_prod_dirs,
    superseded_prod_dirs,
)
from ansible_collections.edgefl.nvflare.plugins.module_utils._provision_spec import (
    SpecError,
    check_version_support,
    from_options,
    from_project_file,
    project_file_warnings,
)


# The options of edgefl.nvflare.provision (module and action plugin validate with the same spec).
ARGUMENT_SPEC = dict(
    workspace=dict(type="path", required=True),
    project_name=dict(type="str"),
    project_file=dict(type="path"),
    org=dict(type="str", default="nvidia"),
    server=dict(type="dict", options=dict(
        name=dict(type="str", required=True),
        org=dict(type="str"),
        fed_learn_port=dict(type="int"),
        admin_port=dict(type="int"),
        default_host=dict(type="str"),
        host_names=dict(type="list", elements="str"),
        host=dict(type="str"),
    )),
    relays=dict(type="list", elements="dict", default=[], options=dict(
        name=dict(type="str", required=True),
        org=dict(type="str"),
        host=dict(type="str"),
        port=dict(type="int", default=8102),
        connect_to=dict(type="str"),
        host_names=dict(type="list", elements="str"),
    )),
    clients=dict(type="list", elements="dict", default=[], options=dict(
        name=dict(type="str", required=True),
        org=dict(type="str"),
        host=dict(type="str"),
        connect_to=dict(type="str"),
    )),
    admins=dict(type="list", elements="dict", default=[], options=dict(
        name=dict(type="str", required=True),
        org=dict(type="str"),
        role=dict(type="str", default="project_admin", choices=["project_admin", "org_admin", "lead", "member"]),
    )),
    connection_security=dict(type="str", choices=["clear", "tls", "mtls"]),
    cert_validity_days=dict(type="int"),
    ca_validity_days=dict(type="int"),
    nvflare_version=dict(type="str"),
    force=dict(type="bool", default=False),
    renew=dict(type="bool", default=False),
    rotate_ca=dict(type="bool", default=False),
    allow_readd=dict(type="list", elements="str", default=[]),
    remove=dict(type="list", elements="str", default=[]),
    lock_timeout=dict(type="int", default=600),
    prune_kits=dict(type="bool", default=False),
)
MUTUALLY_EXCLUSIVE = [
    ("project_file", "project_name"),
    ("project_file", "server"),
    ("project_file", "connection_security"),
]
REQUIRED_ONE_OF = [("project_file", "project_name")]


def load_project_file(path):
    import yaml

    try:
        with open(path, "r") as f:
            data = yaml.safe_load(f)
    except (OSError, IOError) as exc:
        raise ModuleError("project_file: cannot read %s (%s); give the path of a readable NVFLARE project.yml"
                          % (path, exc.strerror or exc), field="project_file")
    except yaml.YAMLError as exc:
        raise ModuleError("project_file: %s is not valid YAML (%s); fix the file" % (path, exc), field="project_file")
    return _with_includes(path, data) if _has_include(data) else data


def _has_include(data):
    if isinstance(data, dict):
        return "include" in data or any(_has_include(v) for v in data.values())
    if isinstance(data, list):
        return any(_has_include(v) for v in data)
    return False


def _with_includes(path, data):
    """The project with its ``include:`` entries merged in by NVFLARE's own reader (nvflare provision reads a project
    through nvflare.lighter.utils.load_yaml): an include at any level of a mapping is replaced by the included file's
    keys, a path relative to the project file and not outside its directory."""
    import yaml

    try:
        from nvflare.lighter.utils import load_yaml_include
    except ImportError:
        raise ModuleError("project_file: %s uses 'include', which the nvflare next to this module does not read; "
                          "copy the included entries into the file" % path, field="project_file")
    try:
        return load_yaml_include(os.path.dirname(os.path.abspath(path)), data)
    except (OSError, IOError) as exc:
        raise ModuleError("project_file: cannot read a file %s includes (%s); include: takes a path relative to the "
                          "project file" % (path, exc), field="project_file")
    except yaml.YAMLError as exc:
        raise ModuleError("project_file: a file %s includes is not valid YAML (%s); fix it" % (path, exc),
                          field="project_file")
    except (ValueError, TypeError, AttributeError, UnboundLocalError) as exc:
        raise ModuleError("project_file: NVFLARE cannot read the include of %s (%s); include: takes a file name, or a "
                          "list of them, relative to the project file's directory and inside it" % (path, exc),
                          field="project_file")


def _workspace_fix():
    return "choose another workspace path, or fix its permissions for the user running Ansible (uid %d)" % os.geteuid()


def workspace_problem(path):
    """Why the workspace directory cannot be used (created, or written) by this user; None when it can."""
    fix = _workspace_fix()
    if os.path.lexists(path):
        if not os.path.isdir(path):
            return "%s exists and is not a directory; choose a directory path" % path
        if not os.access(path, os.W_OK | os.X_OK):
            return "%s is not writable; %s" % (path, fix)
        return None
    ancestor = os.path.dirname(os.path.normpath(path))
    while ancestor and not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not ancestor:
        return None
    if not os.path.isdir(ancestor):
        return "cannot create %s: %s is not a directory; %s" % (path, ancestor, fix)
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return "cannot create %s: %s is not writable; %s" % (path, ancestor, fix)
    return None


class ProvisionRunner(EdgeflModule):
    def run(self):
        params = self.module.params
        version = installed_nvflare_version(params.get("nvflare_version"))
        try:
            if params.get("project_file"):
                if params.get("clients") or params.get("admins") or params.get("relays"):
                    raise SpecError("project_file", "give either project_file or server/relays/clients/admins, "
                                    "not both")
                data = load_project_file(params["project_file"])
                project, labels, hosts = from_project_file(params["project_file"], data, version)
            else:
                data = None
                project, labels, hosts = from_options(params, version)
            version_warnings = check_version_support(project, labels, version) + project_file_warnings(data, version)
            options = Options(force=params.get("force"), renew=params.get("renew"),
                              rotate_ca=params.get("rotate_ca"), allow_readd=params.get("allow_readd"),
                              remove=params.get("remove"), cert_validity_days=params.get("cert_validity_days"),
                              ca_validity_days=params.get("ca_validity_days"))
            timeout = params.get("lock_timeout")
            if timeout is None:
                timeout = 600
            if timeout < 0:
                raise SpecError("lock_timeout", "must be 0 (do not wait) or a positive number of seconds, got %r"
                                % timeout)
            layout = Layout(params["workspace"], project["name"])
            problem = workspace_problem(layout.workspace)
            if problem:
                raise SpecError("workspace", problem)
        except SpecError as exc:
            raise ModuleError(exc.msg, field=exc.field)
        for warning in version_warnings:
            self.module.warn(warning)
        notify = getattr(self.module, "progress", None) or self.module.warn
        lock = WorkspaceLock(layout, timeout=timeout, play=getattr(self.module, "play_name", None),
                             create=not self.check_mode, notify=notify)
        try:
            lock.acquire()
        except OSError as exc:
            raise ModuleError("workspace: cannot write the provisioning workspace %s (%s); %s"
                              % (layout.workspace, exc, _workspace_fix()), field="workspace")
        try:
            self._run_locked(layout, project, labels, hosts, version, options, lock)
        except BaseException:
            if not os.path.exists(layout.cert_file):
                lock.release()
                lock.drop_created_dirs()
            raise
        finally:
            lock.release()

    def _run_locked(self, layout, project, labels, hosts, version, options, lock):
        try:
            plan = Plan(project, labels, hosts, layout, version, options=options)
            check_names(plan)
            plan.check_membership()
        except SpecError as exc:
            raise ModuleError(exc.msg, field=exc.field)
        before, after = plan.diff()
        self.set_diff(before, after, before_header="participants (before)", after_header="participants (after)")
        result_dir = None
        content = None
        retired = None
        try:
            if plan.changed and not self.check_mode:
                result_dir, content, retired = apply(plan)
            elif plan.to_build:
                result_dir = plan.next_prod_dir()
            elif plan.state is None and not self.check_mode:
                _prod, content, _retired = apply(plan)
        except OSError as exc:
            raise ModuleError("workspace: cannot write the provisioning workspace %s (%s); %s"
                              % (layout.workspace, exc, _workspace_fix()), field="workspace")
        verb = "would be" if self.check_mode else "were"
        for warning in plan.nvflare_warnings:
            self.module.warn("NVFLARE's provisioning warns: %s" % warning)
        if lock.waited >= 1:
            self.module.warn("waited %d s for the provisioning workspace lock" % int(lock.waited))
        if plan.global_changes and plan.recorded:
            self.module.warn("federation-wide settings changed (%s): all %d kits %s rebuilt with the same keys; "
                             "deploy the new kits to every host" % (", ".join(plan.global_changes), len(plan.to_build),
                                                                    verb))
        if plan.regenerate:
            self.module.warn("certificate content changed for %s: new key pairs %s generated"
                             % (", ".join(sorted(plan.regenerate)), verb))
        if plan.removed:
            self.module.warn("%s %s removed: key deleted from the state and from the control-node kits; a removed "
                             "name can only come back with allow_readd (nvflare_allow_readd)"
                             % (", ".join(plan.removed),
                                verb if self.check_mode or len(plan.removed) > 1 else "was"))
        stale = sorted(n for n in plan.stale_kits if n in plan.reasons)
        if stale and not (plan.options.renew or plan.options.rotate_ca):
            self.module.warn("kits of %s did not match the state (a run was interrupted); they %s rebuilt"
                             % (", ".join(stale), verb))
        removed_all = sorted(set(plan.removed_before) - set(plan.wanted) | set(plan.removed))
        pruned = []
        if self.module.params.get("prune_kits"):
            pruned = superseded_prod_dirs(layout)
            if not self.check_mode:
                try:
                    prune_prod_dirs(layout, pruned)
                except OSError as exc:
                    raise ModuleError("prune_kits: cannot delete a superseded kit directory of %s (%s); %s"
                                      % (layout.project_dir, exc, _workspace_fix()), field="prune_kits")
            self.add_result(pruned=pruned)
        self.set_changed(plan.changed or bool(pruned))
        self.add_result(
            kits=dict((n, layout.kit(n)) for n in plan.wanted),
            participants=plan.participants(),
            added=plan.added,
            removed=plan.removed,
            removed_all=removed_all,
            renewed=plan.renewed,
            rotated_ca=bool(plan.options.rotate_ca),
            changed_participants=plan.changed_participants,
            regenerated_keys=sorted(plan.regenerate),
            reasons=plan.reasons,
            certificates=plan.certificates(content),
            result_dir=result_dir or plan.current_result_dir(),
            project_dir=layout.project_dir,
            state_dir=layout.state_dir,
            nvflare_version=version,
        )
        if retired:
            self.add_result(retired_ca_dir=retired)
