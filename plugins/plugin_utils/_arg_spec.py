# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A role's variables against its argument spec, as ansible.builtin.validate_argument_spec checks them, but strict
about lists and mappings (edgefl.nvflare.role_args).

ansible-core converts a string given for a list option (V(10.0.0.0/8)) or a dict option (V(a=1)) only for its own
validation; the role then reads the variable as it is and iterates over the characters of the string. That is what
C(-e name=value) on the command line gives. The strict messages never hold a value (a variable may hold a secret).
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.edgefl.nvflare.plugins.plugin_utils._model import kind_of


def _strict(name, kind, value):
    if kind == "list" and not isinstance(value, (list, tuple)):
        return ("%s must be a list, got %s: in YAML write a list ([a, b] or one '- item' per line); on the command "
                "line give JSON, -e '{\"%s\": [\"a\", \"b\"]}'" % (name, kind_of(value), name))
    if kind == "dict" and not isinstance(value, Mapping):
        return ("%s must be a mapping, got %s: in YAML write a mapping; on the command line give JSON, "
                "-e '{\"%s\": {\"KEY\": \"value\"}}'" % (name, kind_of(value), name))
    return None


def _without_defaults(spec):
    """The spec without its documented defaults: the role's defaults/main.yml gives the values (often templates the
    spec only shows), and an unset variable must not be validated as its default's text."""
    out = {}
    for name, option in spec.items():
        option = dict(option or {})
        option.pop("default", None)
        if isinstance(option.get("options"), Mapping):
            option["options"] = _without_defaults(option["options"])
        out[name] = option
    return out


def arg_spec_errors(spec, values):
    """Messages for the values the spec refuses, strict about lists and dicts; [] when all is well."""
    if not isinstance(spec, Mapping):
        raise TypeError("arg_spec_errors: the input must be the options mapping of an argument spec")
    if not isinstance(values, Mapping):
        raise TypeError("arg_spec_errors: values must be a mapping of variable names to values")
    given = dict((k, v) for k, v in values.items() if v is not None)
    strict = {}
    for name in sorted(given):
        message = _strict(name, (spec.get(name) or {}).get("type"), given[name])
        if message:
            strict[name] = message
    # the rest as validate_argument_spec sees it (a variable refused above would only add a second message)
    result = ArgumentSpecValidator(_without_defaults(spec)).validate(dict((k, v) for k, v in given.items() if k not in strict))
    return [strict[name] for name in sorted(strict)] + [str(msg) for msg in result.error_messages]
