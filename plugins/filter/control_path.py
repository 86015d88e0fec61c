# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: control_path
short_description: A command-line path on the control node, made absolute against where ansible-playbook started
version_added: 1.5.0
positional: _input
author:
  - edgefl maintainers (@edgefl)
description:
  - Ansible runs a module on the control node in the directory of the playbook that holds the task, so a relative
    path given with C(-e) (C(-e nvflare_submit_src=jobs/my_job)) would be read from C(playbooks/) of this collection
    (or from wherever the collection is installed), not from the directory the user ran C(ansible-playbook) in.
    This filter expands C(~) and joins a relative path to that directory, as a shell or the C(nvflare) command line
    would read it. Absolute paths are only normalised; symbolic links are kept.
  - An empty or missing value stays V("") (playbooks use it for "not given").
options:
  _input:
    description: The path, or V("")/V(none).
    type: raw
    required: true
  base:
    description: The directory a relative path is joined to. Without it (or when empty), the current directory of
      the process, which for a filter is the one C(ansible-playbook) started in.
    type: str
"""

EXAMPLES = r"""
- name: Submit a job folder named on the command line
  edgefl.nvflare.job:
    admin_kit: "{{ admin_kit }}"
    src: "{{ nvflare_submit_src | edgefl.nvflare.control_path }}"
  # run from /home/me with -e nvflare_submit_src=jobs/my_job: src is /home/me/jobs/my_job
"""

RETURN = r"""
_value:
  description: The absolute path, or V("") for an empty input.
  type: str
"""

import os


def control_path(value, base=None):
    """An absolute control-node path: '~' expanded, a relative path joined to ``base`` (default: the current
    directory of the process, which for a filter is ansible-playbook's own); '' for an empty value."""
    if value is None:
        return ""
    text = str(value).strip()
    if not text:
        return ""
    path = os.path.expanduser(text)
    if not os.path.isabs(path):
        path = os.path.join(base or os.getcwd(), path)
    return os.path.normpath(path)


class FilterModule(object):
    def filters(self):
        return {"control_path": control_path}
