#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: files
short_description: Write several small text files on a host in one round trip
version_added: 1.5.0
description:
  - Makes each file of O(files) hold the given content, owner, group and mode, or removes it. One module run does
    them all; M(ansible.builtin.copy) and M(ansible.builtin.template) take two or three round trips per file. The
    roles write a host's job storage settings and its systemd unit with it (fewer, fatter tasks per host, issue 15).
  - A file whose content differs is replaced atomically (a temporary file in the same directory with the owner,
    group and mode already set, then renamed). A file whose content is right but whose owner, group or mode is not
    gets only a chown or chmod.
  - Every entry is checked before anything is written. An unknown owner or group, a bad mode, a relative path, a
    missing parent directory, or a path that is a directory, a link or a special file fails the task and changes
    nothing.
  - A file that holds a secret (tokens in a unit's environment file) takes O(files[].secret_content) instead of
    O(files[].content). Its text is masked in the module's output and in the host's log, and gets no diff (a
    placeholder says that it changed).
author:
  - edgefl maintainers (@edgefl)
extends_documentation_fragment:
  - edgefl.nvflare.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports the files that would change and writes nothing.
  diff_mode:
    support: full
    details:
      - One diff per changed text file.
  idempotent:
    support: full
options:
  files:
    description: The files to manage, in order.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: The absolute path of the file. Its directory must exist.
        type: path
        required: true
      state:
        description: V(present) writes the file, V(absent) removes it (nothing happens when it does not exist).
        type: str
        choices: [present, absent]
        default: present
      content:
        description: The whole text of the file (UTF-8). With O(files[].state=present), give this or
          O(files[].secret_content).
        type: str
      secret_content:
        description:
          - The whole text of a file that holds a secret (UTF-8), instead of O(files[].content). Masked in the
            output (C(no_log)), never shown in a diff, and the old text of the file is never read into the result.
        type: str
        version_added: 1.5.0
      owner:
        description: The owner (a name or a numeric ID). Unset keeps the owner of an existing file, and a new file
          belongs to the user the module runs as.
        type: str
      group:
        description: The group (a name or a numeric ID). Unset works like O(files[].owner).
        type: str
      mode:
        description: The permissions, as an octal string such as V('0644'). Unset keeps the mode of an existing file
          and gives a new one V(0644).
        type: raw
  marker:
    description:
      - A file to write (C(0600), the paths about to change, as JSON) before the first file changes, when any
        will. A caller that must act on a change (restart a service) removes it once it did; a run killed in
        between leaves it, and the next run finds it. Not written in check mode, nor when nothing changes.
    type: path
    version_added: 1.5.0
notes:
  - Only regular files. The module does not follow or replace a symbolic link.
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.template
"""

EXAMPLES = r"""
- name: Write the job storage settings and the systemd unit
  edgefl.nvflare.files:
    files:
      - path: /var/lib/nvflare/site-1/local/resources.json
        content: "{{ resources | to_nice_json(indent=2) }}\n"
        owner: nvflare
        group: nvflare
        mode: "0600"
      - path: /etc/systemd/system/nvflare-client.service
        content: "{{ lookup('ansible.builtin.template', 'nvflare.service.j2') }}"
        owner: root
        group: root
        mode: "0644"
      - path: /etc/default/old-unit
        state: absent
  notify: restart nvflare
"""

RETURN = r"""
changed_paths:
  description: The files that changed (or would change in check mode), in the order of O(files).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/nvflare-client.service]
reasons:
  description: For each changed file, what differed (V(content), V(owner), V(group), V(mode), V(absent)).
  returned: always
  type: dict
  sample: {/etc/systemd/system/nvflare-client.service: [content]}
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule, remove_values

from ansible_collections.edgefl.nvflare.plugins.module_utils._base import EdgeflModule, ModuleError
from ansible_collections.edgefl.nvflare.plugins.module_utils._files import FileSpecError, apply_file, atomic_write, plan_file

ARGUMENT_SPEC = dict(
    files=dict(
        type="list",
        elements="dict",
        required=True,
        options=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            content=dict(type="str"),
            secret_content=dict(type="str", no_log=True),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="raw"),
        ),
    ),
    marker=dict(type="path"),
)


class FilesModule(EdgeflModule):
    def run(self):
        try:
            plans = [plan_file(entry, lenient=self.check_mode) for entry in self.module.params["files"]]
        except FileSpecError as exc:
            raise ModuleError(str(exc), field="files")
        todo = [p for p in plans if p["reasons"]]
        for plan in todo:
            if plan["state"] == "present" and "content" in plan["reasons"]:
                parent = os.path.dirname(plan["path"])
                if not self.check_mode and not os.path.isdir(parent):
                    raise ModuleError("%s: its directory %s does not exist" % (plan["path"], parent), field="files")
        marker = self.module.params.get("marker")
        if todo and marker and not self.check_mode:
            try:
                atomic_write(marker, (json.dumps([p["path"] for p in todo]) + "\n").encode("utf-8"), mode=0o600)
            except OSError as exc:
                raise ModuleError("marker %s: %s" % (marker, exc), field="marker")
        if not self.check_mode:
            for plan in todo:
                try:
                    apply_file(plan)
                except OSError as exc:
                    raise ModuleError("%s: %s" % (plan["path"], exc), field="files")
        self.set_changed(bool(todo))
        self.add_result(changed_paths=[p["path"] for p in todo], reasons=dict((p["path"], p["reasons"]) for p in todo))
        if self.diff_mode:
            diffs = [_diff(p) for p in todo if "content" in p["reasons"] or p["state"] == "absent"]
            if diffs:
                self.add_result(diff=diffs)


def _diff(plan):
    if plan.get("secret"):
        return {"before": "(secret content)\n" if plan["exists"] else "", "after": "(secret content, changed)\n",
                "before_header": plan["path"], "after_header": plan["path"]}
    after = "" if plan["state"] == "absent" else plan["data"].decode("utf-8")
    before = plan["before"] if plan["before"] is not None else ("" if not plan["exists"] else "(binary content)\n")
    if plan["state"] == "absent":
        before = "(removed)\n"
    return {"before": before, "after": after, "before_header": plan["path"], "after_header": plan["path"]}


class _MaskedModule(AnsibleModule):
    """An AnsibleModule whose "Invoked with" line in the host's journal or syslog masks O(files[].secret_content).

    Ansible masks a no_log value in that line by searching the text of each option, and an option that is a list is
    turned into text first: a multi-line secret becomes one line with its newlines written as \\n, which no longer
    matches, so the unit environment's tokens reached the journal. The options are masked before they become text."""

    def _log_invocation(self):
        params = self.params
        self.params = remove_values(params, self.no_log_values)
        try:
            super()._log_invocation()
        finally:
            self.params = params


def main():
    module = _MaskedModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    FilesModule(module).execute()


if __name__ == "__main__":
    main()
