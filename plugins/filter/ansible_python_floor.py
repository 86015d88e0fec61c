# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: ansible_python_floor
short_description: The oldest target Python the running ansible-core can run its modules with
version_added: 0.3.0
positional: _input
author:
  - edgefl maintainers (@edgefl)
description:
  - Read from ansible-core itself (C(ansible.module_utils.basic._PY_MIN), 3.8 for ansible-core 2.17 to 2.19),
    so C(playbooks/bootstrap.yml) follows the controller's ansible-core without a constant to keep in sync.
    When that name is missing (another ansible-core layout) the documented fallback is V(3.8).
options:
  _input:
    description: Ignored (a filter needs an input; use V(none)).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Show the floor
  ansible.builtin.debug:
    msg: "{{ none | edgefl.nvflare.ansible_python_floor }}"
  # '3.8'
"""

RETURN = r"""
_value:
  description: V(MAJOR.MINOR).
  type: str
"""

FALLBACK = (3, 8)


def ansible_python_floor(_value=None):
    """'MAJOR.MINOR' of ansible-core's module-side Python floor."""
    try:
        from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel
        floor = tuple(getattr(basic, "_PY_MIN", FALLBACK))[:2]
    except ImportError:  # pragma: no cover - ansible-core is always there where filters run
        floor = FALLBACK
    return "%d.%d" % floor


class FilterModule(object):
    def filters(self):
        return {"ansible_python_floor": ansible_python_floor}
