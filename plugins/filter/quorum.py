# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: quorum
short_description: Compare the connected clients with the inventory's clients and a quorum
version_added: 1.1.0
positional: _input, expected, min_clients
author:
  - edgefl maintainers (@edgefl)
description:
  - Takes the client names the server lists and returns whether the quorum is reached, which inventory clients
    are missing and a one-line message, for example C(3/4 clients connected (quorum 3\); missing - site-2).
options:
  _input:
    description: Names of the clients the server lists (RV(edgefl.nvflare.status#module:client_names)).
    type: list
    elements: str
    required: true
  expected:
    description: Client names of the inventory.
    type: list
    elements: str
    required: true
  min_clients:
    description: The quorum; a count, a percentage of O(expected) (C(75%)) or C(all) (every expected client).
    type: raw
    default: all
"""

EXAMPLES = r"""
- name: Fail below the quorum and name the missing clients
  ansible.builtin.assert:
    that: __q.ok
    fail_msg: "{{ __q.msg }}"
    success_msg: "{{ __q.msg }}"
  vars:
    __q: "{{ site_status.client_names | edgefl.nvflare.quorum(['site-1', 'site-2', 'site-3'], 2) }}"
"""

RETURN = r"""
_value:
  description: The comparison.
  type: dict
  contains:
    ok:
      description: At least C(min_clients) of the expected clients are connected.
      type: bool
    all_connected:
      description: Every expected client is connected.
      type: bool
    min_clients:
      description: The quorum as a number of clients.
      type: int
    expected:
      description: The expected client names, sorted.
      type: list
      elements: str
    connected:
      description: Expected clients the server lists.
      type: list
      elements: str
    missing:
      description: Expected clients the server does not list.
      type: list
      elements: str
    extra:
      description: Listed clients the inventory does not know (they do not count toward the quorum).
      type: list
      elements: str
    msg:
      description: One line for people.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.module_utils._quorum import QuorumError
from ansible_collections.edgefl.nvflare.plugins.module_utils._quorum import quorum as _quorum


def quorum(connected, expected, min_clients="all"):
    try:
        return _quorum(expected, connected, min_clients)
    except QuorumError as e:
        raise AnsibleFilterError(str(e))


class FilterModule:
    def filters(self):
        return {"quorum": quorum}
