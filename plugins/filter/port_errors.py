# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: port_errors
short_description: The entries of a dict of TCP ports that are not a port number
version_added: 1.1.0
positional: _input
author:
  - edgefl maintainers (@edgefl)
description:
  - Takes a dict of variable name to TCP port and returns the entries whose value is not a port between 1 and
    65535, with one line per entry saying what is wrong.
  - A port may be an integer or a string of digits (what C(-e name=8004) on the command line gives); a boolean,
    a float, an empty value or anything else is an error.
  - The roles' rules (M(edgefl.nvflare.role_args)) give the same messages for the ports of the firewall and
    service roles.
options:
  _input:
    description: Variable name to port.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the ports
  ansible.builtin.assert:
    that: __bad | length == 0
    fail_msg: "{{ __bad | join('; ') }}"
  vars:
    __bad: "{{ {'nvflare_firewall_fed_learn_port': nvflare_firewall_fed_learn_port} | edgefl.nvflare.port_errors }}"
"""

RETURN = r"""
_value:
  description: One message per bad entry, in the order of the dict, e.g.
    C(nvflare_firewall_admin_port must be a TCP port between 1 and 65535, got 'x'); empty when all are good.
  type: list
  elements: str
"""

import re

from ansible.errors import AnsibleFilterError


def port_number(value):
    """The port as an int, or None when VALUE is no TCP port (1..65535)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        port = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,5}\s*", value):
        port = int(value)
    else:
        return None
    return port if 1 <= port <= 65535 else None


def port_errors(ports):
    if not isinstance(ports, dict):
        raise AnsibleFilterError("port_errors: expects a dict of variable name to port, got %s" % type(ports).__name__)
    return ["%s must be a TCP port between 1 and 65535, got %r" % (name, value)
            for name, value in ports.items() if port_number(value) is None]


class FilterModule:
    def filters(self):
        return {"port_errors": port_errors}
