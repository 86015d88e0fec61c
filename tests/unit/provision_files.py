# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the provisioning tests share: the module input they start from and readers of the workspace it writes."""

from __future__ import annotations

import copy
import json
import os

PROJECT = "proj"


def spec(ws, clients=("site-1", "site-2"), relays=None, **over):
    """The provision module's input: server1, CLIENTS (names, or mappings with more fields), RELAYS when given, and
    one admin; OVER replaces whole fields."""
    args = {
        "workspace": str(ws),
        "project_name": PROJECT,
        "server": {"name": "server1", "host_names": ["10.0.0.1"]},
        "clients": [{"name": c} if isinstance(c, str) else dict(c) for c in clients],
        "admins": [{"name": "admin@nvidia.com", "org": "nvidia", "role": "project_admin"}],
    }
    if relays is not None:
        args["relays"] = [dict(r) for r in relays]
    args.update(copy.deepcopy(over))
    return args


def project_dir(ws):
    return os.path.join(str(ws), PROJECT)


def kit(ws, name, *rel):
    return os.path.join(project_dir(ws), "kits", name, *rel)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def read_json(path):
    return json.loads(read(path))


def cert_state(ws):
    """The root CA's state NVFLARE keeps, state/cert.json."""
    return read_json(os.path.join(project_dir(ws), "state", "cert.json"))


def kit_files(ws, names):
    """{name/rel: bytes} of every file in the given participants' current kits."""
    out = {}
    for name in names:
        base = kit(ws, name)
        for dirpath, _dirs, files in os.walk(base):
            for fn in files:
                full = os.path.join(dirpath, fn)
                out[os.path.join(name, os.path.relpath(full, base))] = read(full)
    return out
