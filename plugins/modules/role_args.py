#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: role_args
short_description: Check a role's variables against its argument spec, strict about lists and mappings
version_added: 1.5.0
description:
  - Reads the variables an entry point of the running role's C(meta/argument_specs.yml) names, as
    M(ansible.builtin.validate_argument_spec) does, and fails on what that spec refuses, naming each variable.
  - Unlike that validation it refuses a string where the spec says V(list) (or a mapping), and a string where it
    says V(dict). ansible-core converts those only for its own check (V(10.0.0.0/8) becomes a list of one network);
    the role then reads the variable as it is and iterates over the characters of the string. C(-e name=value) on
    the command line gives a string; the message says how to give a list there (JSON).
  - Then the role's rules that need no facts, in Python. For nvflare_firewall, its ports, its source networks (IP
    networks or addresses) and the SSH rule. For nvflare_service, its role, site and unit names, absolute paths
    (the storage not under C(/tmp)), ports, wait, and the unit environment's names and control characters (that
    message never holds a value). For nvflare_venv, its version, absolute paths, user and group names, and local
    wheels that must be C(.whl) files present on the control node. For nvflare_hosts, every entry of
    C(nvflare_hosts_entries) and C(nvflare_hosts_extra_entries) has a host name and an IP address, and no name is
    mapped twice. Those rules run only once the spec passes.
  - The collection's roles run it first in their C(tasks/checks.yml); C(playbooks/deploy.yml) runs those checks for
    every host before any role changes one (the C(role_checks) entry point of the internal nvflare_common role).
  - With O(roles) it checks roles that are not running, on the variables the inventory and the command line set
    for the host (the roles' defaults are not read, and a value whose template needs facts is left to the role).
    The first play of C(site.yml), C(deploy.yml), C(add_client.yml) and C(upgrade.yml) does that for every host,
    before the bootstrap or provisioning changes anything, once per run.
  - Runs on the control node only, through its action plugin; it never connects to the host. Without O(roles) it
    must run inside a role (it reads C(role_path)).
author:
  - edgefl maintainers (@edgefl)
extends_documentation_fragment:
  - edgefl.nvflare.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: N/A
  idempotent:
    support: full
options:
  entry_point:
    description: The entry point of the role's argument spec whose options are checked.
    type: str
    default: main
  roles:
    description:
      - This collection's roles to check (V(nvflare_firewall) or V(edgefl.nvflare.nvflare_firewall)), instead of the
        running role. Messages then start with the role's name.
    type: list
    elements: str
notes:
  - Messages of the strict checks never show a value (a variable may hold a secret); the spec's own messages are
    ansible-core's, as M(ansible.builtin.validate_argument_spec) gives them.
"""

EXAMPLES = r"""
# tasks/checks.yml of a role
- name: Check the variables against the role's argument spec
  edgefl.nvflare.role_args:
    entry_point: main

# the first play of a playbook, for every federation host, before any host is contacted
- name: Check the roles' input set for this host
  edgefl.nvflare.role_args:
    roles: [nvflare_venv, nvflare_hosts, nvflare_firewall, nvflare_service]
"""

RETURN = r"""
argument_errors:
  description: One message per problem; empty when the variables are valid.
  type: list
  elements: str
  returned: always
  sample: ["nvflare_firewall_source_cidrs must be a list, got a string: ..."]
msg:
  description: One line on the result.
  type: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(entry_point=dict(type="str", default="main"),
                                              roles=dict(type="list", elements="str")),
                           supports_check_mode=True)
    module.fail_json(msg="edgefl.nvflare.role_args runs on the control node through its action plugin, inside a "
                         "role; it has nothing to do as a module")


if __name__ == "__main__":
    main()
