# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: apt_new_packages
short_description: The packages an apt install run newly installed (from its output)
version_added: 0.1.0
positional: _input
author:
  - edgefl maintainers (@edgefl)
description:
  - Reads the C(The following NEW packages will be installed) list from the standard output of
    M(ansible.builtin.apt) (which runs C(apt-get) with the C locale), so a role can record exactly what it
    installed - the requested packages and the dependencies apt pulled in - and purge only those on uninstall.
  - Returns the O(fallback) packages when the output has no such list (for example an older apt that prints
    it differently) and an empty list when the input is empty.
options:
  _input:
    description: The C(stdout) of the apt task.
    type: str
    required: true
  fallback:
    description: What to return when the output lists no new packages but is not empty.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Record what the role installed
  ansible.builtin.copy:
    content: "{{ (apt_result.stdout | edgefl.nvflare.apt_new_packages) | join('\n') }}\n"
    dest: /var/lib/edgefl-nvflare/nvflare_firewall.packages
    mode: "0644"
  when: apt_result is changed
"""

RETURN = r"""
_value:
  description: Package names in the order apt printed them.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

HEADER = "The following NEW packages will be installed"


def apt_new_packages(stdout, fallback=()):
    if stdout is None:
        stdout = ""
    if not isinstance(stdout, str):
        raise AnsibleFilterError("edgefl.nvflare.apt_new_packages: the input must be the stdout of an apt task, got %s"
                                 % type(stdout).__name__)
    found, inside = [], False
    for line in stdout.splitlines():
        if line.startswith(HEADER):
            inside = True
            continue
        if inside:
            if line.startswith(" "):
                found.extend(word for word in line.split() if word not in found)
                continue
            inside = False
    if found or not stdout.strip():
        return found
    return list(fallback or ())


class FilterModule:
    def filters(self):
        return {"apt_new_packages": apt_new_packages}
