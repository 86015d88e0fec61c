# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the provision module's runner in THIS Python (a per-version nvflare venv, no Ansible installed).

    <venv>/bin/python provision_driver.py '<module args as JSON>'  -> the module's result as JSON on stdout

The same code path as the module and the action plugin (ProvisionRunner.outcome()), with the minimal
module object the action plugin uses; the collection is imported from this checkout.
"""

from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.edgefl.nvflare.plugins.module_utils._provision_runner import (  # noqa: E402
    ARGUMENT_SPEC,
    ProvisionRunner,
)


class _Module:
    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self._diff = False
        self.warnings = []
        self.play_name = None

    def warn(self, msg):
        self.warnings.append(msg)

    progress = warn


def _defaults(args):
    params = {}
    for key, spec in ARGUMENT_SPEC.items():
        params[key] = args.get(key, spec.get("default"))
    for key, sub in (("relays", "relays"), ("clients", "clients"), ("admins", "admins")):
        opts = ARGUMENT_SPEC[sub].get("options", {})
        params[key] = [dict(dict((k, v.get("default")) for k, v in opts.items()), **e) for e in params[key] or []]
    if params.get("server"):
        opts = ARGUMENT_SPEC["server"]["options"]
        params["server"] = dict(dict((k, v.get("default")) for k, v in opts.items()), **params["server"])
    return params


def main():
    args = json.loads(sys.argv[1])
    check_mode = bool(args.pop("_check_mode", False))
    module = _Module(_defaults(args), check_mode)
    result = ProvisionRunner(module).outcome()
    result["warnings"] = module.warnings
    result.pop("messages", None)
    json.dump(result, sys.stdout, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
