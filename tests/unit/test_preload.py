# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The edgefl.nvflare.preload callback loads every plugin of the collection into the controller's process.

Run in a fresh Python with ansible-core's collection loader (as ansible-playbook has it), so that nothing another
test imported counts: the point is that, after preload(), every filter, action and lookup file of the collection is
in sys.modules, where the workers Ansible forks find it instead of compiling it again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, "collections")

PROBE = r"""
import json, sys
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[sys.argv[1]])._install()
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader([sys.argv[1]])
from ansible_collections.edgefl.nvflare.plugins.callback import preload as cb
pkg = "ansible_collections.edgefl.nvflare.plugins."
before = sorted(m for m in sys.modules if m.startswith(pkg))
count = cb.preload()
after = sorted(m for m in sys.modules if m.startswith(pkg))
print(json.dumps({"before": before, "after": after, "count": count,
                  "names": {k: cb.plugin_names(k) for k in ("filter", "action", "lookup", "nosuchkind")}}))
"""


def plugin_files(kind):
    d = os.path.join(ROOT, "plugins", kind)
    return sorted(f[:-3] for f in os.listdir(d) if f.endswith(".py") and f != "__init__.py")


def run_probe():
    proc = subprocess.run([sys.executable, "-c", PROBE, COLLECTIONS], capture_output=True, text=True, check=False,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg")), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_preload_loads_every_filter_action_and_lookup_of_the_collection():
    out = run_probe()
    kinds = ("filter", "action", "lookup")
    for kind in kinds:
        assert out["names"][kind] == plugin_files(kind)
    assert out["names"]["nosuchkind"] == []
    assert out["count"] == sum(len(plugin_files(k)) for k in kinds)
    for kind in kinds:
        for name in plugin_files(kind):
            module = "ansible_collections.edgefl.nvflare.plugins.%s.%s" % (kind, name)
            # loaded by preload() itself, not before it
            assert module not in out["before"]
            assert module in out["after"], "%s was not loaded by preload()" % module
