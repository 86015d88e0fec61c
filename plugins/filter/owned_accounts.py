# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: owned_accounts
short_description: Whether the NVFLARE user and group on a host are the nvflare_venv role's own
version_added: 1.1.0
positional: _input, groups, user, group
author:
  - edgefl maintainers (@edgefl)
description:
  - Takes a host's accounts and groups as M(ansible.builtin.getent) reads them and says what the C(nvflare_venv)
    role's uninstall may remove.
  - The user only when it is the role's own account, with the comment the role gives it (C(NVIDIA FLARE)), and not
    uid 0; never root or an account someone else made, such as a device's login user.
  - The group only when it exists, is not gid 0, and no account that stays has it as its primary group.
options:
  _input:
    description: The C(getent_passwd) fact of M(ansible.builtin.getent) with O(ansible.builtin.getent#module:database=passwd).
    type: dict
    required: true
  groups:
    description: The C(getent_group) fact of M(ansible.builtin.getent) with O(ansible.builtin.getent#module:database=group).
    type: dict
    required: true
  user:
    description: C(nvflare_venv_user).
    type: str
    required: true
  group:
    description: C(nvflare_venv_group).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Remove the NVFLARE system user when it is the role's own
  ansible.builtin.user:
    name: nvflare
    state: absent
  when: (ansible_facts.getent_passwd | edgefl.nvflare.owned_accounts(ansible_facts.getent_group, 'nvflare', 'nvflare')).user
"""

RETURN = r"""
_value:
  description: What may be removed.
  type: dict
  contains:
    user:
      description: The user is the role's own account.
      type: bool
    group:
      description: The group may be removed along with it.
      type: bool
"""

# the comment the nvflare_venv role gives its account (roles/nvflare_venv/files/venv_probe.py USER_COMMENT)
USER_COMMENT = "NVIDIA FLARE"


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def owned_accounts(passwd, groups, user, group):
    passwd = passwd or {}
    groups = groups or {}
    entry = passwd.get(user)
    # getent_passwd: name -> [password, uid, gid, comment, home, shell]; getent_group: name -> [password, gid, members]
    own_user = bool(entry) and len(entry) > 3 and _int(entry[1]) not in (0, None) and entry[3] == USER_COMMENT
    gentry = groups.get(group)
    gid = _int(gentry[1]) if gentry and len(gentry) > 1 else None
    staying = [e for name, e in passwd.items() if not (own_user and name == user)]
    own_group = gid not in (0, None) and not any(e and len(e) > 2 and _int(e[2]) == gid for e in staying)
    return {"user": own_user, "group": own_group}


class FilterModule:
    def filters(self):
        return {"owned_accounts": owned_accounts}
