# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: workspace_removal
short_description: What uninstall.yml removes from the provisioning workspace, and what it keeps
version_added: 1.5.0
positional: _input, project_name
author:
  - edgefl maintainers (@edgefl)
description:
  - Decides, on the control node, which entries of the provisioning workspace C(uninstall.yml -e
    nvflare_uninstall_workspace=true) removes. Only what provisioning made for this federation goes - the project
    directory (root CA, keys, every kit; recognised by its C(state), C(kits) or C(.staging) directory) and the copy
    an unfinished C(upgrade.yml) kept (C(.<project>.upgrade-previous), and what a killed one left next to it) - and the C(admin) directory when the admin
    kit's removal left it empty.
  - Everything else stays and is named with the reason - job results (C(results)), another federation's project, files
    of the user's - so a workspace pointed at a directory that holds other things (a home directory) loses nothing
    else. The run lock file (C(.edgefl-run-<project>.lock)) stays too, the run holds it.
options:
  _input:
    description: The workspace, an absolute control-node path (the federation model's C(workspace)).
    type: str
    required: true
  project_name:
    description: The federation's project name (C(nvflare_project_name)).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Remove what provisioning made in the workspace
  ansible.builtin.file:
    path: "{{ item }}"
    state: absent
  loop: "{{ (nvflare_workspace | edgefl.nvflare.workspace_removal('edgefl')).remove }}"
"""

RETURN = r"""
_value:
  description: What to remove and what stays.
  type: dict
  contains:
    remove:
      description: Absolute paths to remove, in order.
      type: list
      elements: str
    keep:
      description: The entries that stay (the run lock file left out), each as C(name (why)).
      type: list
      elements: str
"""

import os

from ansible.errors import AnsibleFilterError

# what marks the project directory as provisioning's (edgefl.nvflare.provision writes state/ first, kits/ and the
# .staging copy of NVFLARE's workspace while it provisions)
_PROJECT_MARKS = ("state", "kits", ".staging")


def workspace_removal(workspace, project_name):
    if not isinstance(workspace, str) or not os.path.isabs(workspace) or workspace.rstrip("/") == "":
        raise AnsibleFilterError("workspace_removal: the workspace must be an absolute directory other than /, got %r"
                                 % (workspace,))
    if not isinstance(project_name, str) or not project_name or "/" in project_name or project_name in (".", ".."):
        raise AnsibleFilterError("workspace_removal: project_name must be a directory name, got %r" % (project_name,))
    workspace = workspace.rstrip("/")
    try:
        entries = sorted(os.listdir(workspace))
    except FileNotFoundError:
        return {"remove": [], "keep": []}
    except OSError as exc:
        return {"remove": [], "keep": ["%s (cannot be listed: %s)" % (workspace, exc.strerror or exc)]}
    lock = ".edgefl-run-%s.lock" % project_name
    keep_dir = ".%s.upgrade-previous" % project_name
    remove, keep = [], []
    for name in entries:
        path = os.path.join(workspace, name)
        isdir = os.path.isdir(path) and not os.path.islink(path)
        if name == lock:
            continue
        if name == project_name:
            if isdir and any(os.path.isdir(os.path.join(path, m)) for m in _PROJECT_MARKS):
                remove.append(path)
            else:
                keep.append("%s (%s)" % (name, "has the project's name but no state, kits or .staging directory of "
                                               "provisioning in it"))
        elif name in (keep_dir, keep_dir + ".partial", keep_dir + ".failed") and isdir:
            remove.append(path)
        elif name == "admin" and isdir:
            if os.listdir(path):
                keep.append("%s (%s)" % (name, "admin kits other than the installed one, which was removed"))
            else:
                remove.append(path)
        elif name == "results" and isdir:
            keep.append("%s (%s)" % (name, "job results (submit_job.yml)"))
        elif isdir and os.path.isdir(os.path.join(path, "state")) and os.path.isdir(os.path.join(path, "kits")):
            keep.append("%s (%s)" % (name, "another federation's provisioning project"))
        else:
            keep.append("%s (%s)" % (name, "not made by provisioning"))
    return {"remove": remove, "keep": keep}


class FilterModule(object):
    def filters(self):
        return {"workspace_removal": workspace_removal}
