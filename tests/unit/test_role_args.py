# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.role_args (plugin_utils/_arg_spec.py) against the roles' real argument specs, and through a real
role run: a string given where a role takes a list (-e name=value) is refused by name, before the role iterates over
its characters."""

from __future__ import annotations

import os
import sys

import pytest
import yaml
from ansible_collections.edgefl.nvflare.plugins.plugin_utils._arg_spec import arg_spec_errors
from conftest import flat, run_playbook

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def spec(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as f:
        return yaml.safe_load(f)["argument_specs"]["main"]["options"]


def test_valid_values_and_unset_ones_pass():
    firewall = spec("nvflare_firewall")
    assert arg_spec_errors(firewall, {"nvflare_firewall_source_cidrs": ["10.0.0.0/8"],
                                      "nvflare_firewall_fed_learn_port": 8002,
                                      "nvflare_firewall_ipv6": None}) == []


@pytest.mark.parametrize("role, name, value, words", [
    ("nvflare_firewall", "nvflare_firewall_source_cidrs", "10.0.0.0/8", "must be a list, got a string"),
    ("nvflare_venv", "nvflare_venv_system_packages", "python3-venv", "must be a list, got a string"),
    ("nvflare_firewall", "nvflare_firewall_source_cidrs", {"a": 1}, "must be a list, got a mapping"),
    ("nvflare_service", "nvflare_service_environment", "A=1", "must be a mapping, got a string"),
    # an INI inventory's [1, 2] or -e '{"...": [1, 2]}': ansible-core's own message named its internal class
    ("nvflare_service", "nvflare_service_environment", [1, 2], "must be a mapping, got a list"),
    ("nvflare_firewall", "nvflare_firewall_source_cidrs", 8, "must be a list, got a number"),
    ("nvflare_firewall", "nvflare_firewall_source_cidrs", True, "must be a list, got a boolean"),
])
def test_a_string_where_a_list_or_mapping_belongs_is_named(role, name, value, words):
    errors = arg_spec_errors(spec(role), {name: value})
    assert len(errors) == 1 and errors[0].startswith(name + " " + words), errors
    assert "-e '{\"%s\": " % name in errors[0]
    if isinstance(value, str):
        assert value not in errors[0]  # never the value: it may be a secret


def test_what_validate_argument_spec_refuses_is_refused_too():
    errors = arg_spec_errors(spec("nvflare_firewall"), {"nvflare_firewall_fed_learn_port": "not-a-port",
                                                        "nvflare_firewall_source_cidrs": "10.0.0.0/8"})
    assert errors[0].startswith("nvflare_firewall_source_cidrs must be a list")
    assert any("nvflare_firewall_fed_learn_port" in e and "int" in e for e in errors[1:]), errors


def test_bad_input_is_a_type_error():
    with pytest.raises(TypeError):
        arg_spec_errors(["not", "a", "spec"], {})
    with pytest.raises(TypeError):
        arg_spec_errors({}, "nope")


@pytest.mark.parametrize("bad, said, good", [
    # before, the source-network check listed the characters of the string
    (["-e", "nvflare_firewall_source_cidrs=10.0.0.0/8"],
     "invalid input on localhost: nvflare_firewall_source_cidrs must be a list, got a string",
     '{"nvflare_firewall_source_cidrs": ["10.0.0.0/8"]}'),
    # the role's own rules (plugin_utils/_role_input.py), with its defaults, in the same task
    (["-e", '{"nvflare_firewall_ssh_source_cidrs": ["10.0.0.1/8"]}'],
     "nvflare_firewall: invalid input on localhost: nvflare_firewall_ssh_source_cidrs must list IP networks in CIDR "
     "notation (e.g. 192.168.1.0/24) or addresses; invalid: 10.0.0.1/8 (host bits set: the network is 10.0.0.0/8)",
     '{"nvflare_firewall_ssh_source_cidrs": ["10.0.0.0/8"]}'),
])
def test_a_role_run_refuses_bad_input_at_its_first_task(tmp_path, bad, said, good):
    """The firewall role's own checks (tasks/checks.yml) on localhost: it stops at its first task, naming the
    variable; the same run with the value written right passes."""
    (tmp_path / "play.yml").write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - ansible.builtin.include_role:\n"
        "        name: edgefl.nvflare.nvflare_firewall\n"
        "        tasks_from: checks\n"
    )
    argv = ["play.yml", "-e", "ansible_python_interpreter=" + sys.executable, "-e", "ansible_connection=local"]
    refused = run_playbook(tmp_path, *argv, *bad, timeout=120)
    assert refused.returncode != 0, refused.stdout
    assert said in flat(refused.stdout), refused.stdout
    passed = run_playbook(tmp_path, *argv, "-e", good, timeout=120)
    assert passed.returncode == 0, passed.stdout + passed.stderr
