"""The firewall role's port check (plugins/filter/port_errors.py)."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.port_errors import port_errors, port_number


@pytest.mark.parametrize("value,port", [(8002, 8002), ("8004", 8004), (" 22 ", 22), (1, 1), (65535, 65535)])
def test_ports_and_digit_strings_are_ports(value, port):
    assert port_number(value) == port


@pytest.mark.parametrize("value", [0, 65536, -1, True, False, 80.0, "", "80a", "0x50", None, [80], "99999"])
def test_everything_else_is_not(value):
    assert port_number(value) is None


def test_errors_name_each_bad_variable_in_order():
    got = port_errors({"a_port": "8004", "b_port": "http", "c_port": 70000, "d_port": 22})
    assert got == ["b_port must be a TCP port between 1 and 65535, got 'http'",
                   "c_port must be a TCP port between 1 and 65535, got 70000"]


def test_not_a_dict_is_an_error():
    with pytest.raises(AnsibleFilterError, match="expects a dict"):
        port_errors([8002])
