# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: release_error
short_description: What is wrong with an NVFLARE version the collection is asked to deploy
version_added: 1.5.0
positional: _input, name
author:
  - edgefl maintainers (@edgefl)
description:
  - The one rule for an NVFLARE version this collection deploys, shared by the first play of every playbook (the
    federation model's C(problems)), the C(nvflare_venv) and C(nvflare_jetson) roles' checks and C(upgrade.yml).
  - A release is C(MAJOR.MINOR), C(MAJOR.MINOR.PATCH) or either with a pre-release suffix (V(2.9.0rc1), V(2.9rc1)),
    of NVFLARE 2.4 or later. A YAML number (V(2.7)) is read as its text.
options:
  _input:
    description: The version.
    type: raw
    required: true
  name:
    description: The variable to name in the message.
    type: str
    default: nvflare_version
"""

EXAMPLES = r"""
- name: Check the version
  ansible.builtin.assert:
    that: (nvflare_venv_version | edgefl.nvflare.release_error) == ''
    fail_msg: "{{ nvflare_venv_version | edgefl.nvflare.release_error('nvflare_venv_version') }}"
"""

RETURN = r"""
_value:
  description: V("") for a release this collection deploys, else a message that names the variable and the value.
  type: str
"""

from ansible_collections.edgefl.nvflare.plugins.plugin_utils._model import release_error


class FilterModule(object):
    def filters(self):
        return {"release_error": release_error}
