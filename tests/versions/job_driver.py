# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the job module's folder check and staging in THIS Python (a per-version nvflare venv, no Ansible).

    <venv>/bin/python job_driver.py <job folder>  -> {"ok", "msg", "staged_name", "client_config"} as JSON

``staged_job`` is what the module runs before it connects (check mode too): the folder check, the staged copy and
NVFLARE's own job check of that copy. ``client_config``: the staged app's config_fed_client read from a copy of
that app folder alone, as a client gets it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.edgefl.nvflare.plugins.module_utils import _flare_job as fj  # noqa: E402
from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import InvalidJob  # noqa: E402


def _client_config(staged):
    fmt, path = fj._find_config(os.path.join(staged, "app", "config"), "config_fed_client")  # pylint: disable=protected-access
    if path is None:
        return None
    alone = tempfile.mkdtemp()
    try:
        shutil.copytree(os.path.join(staged, "app"), os.path.join(alone, "app"))
        return fj.ConfigFactory.get_config_loader(fmt).load_config(
            file_path=os.path.join(alone, "app", "config", os.path.basename(path))).to_dict()
    finally:
        shutil.rmtree(alone)


def main():
    out = {"ok": False, "msg": "", "staged_name": None, "client_config": None}
    try:
        with fj.staged_job(sys.argv[1]) as staged:
            out.update(ok=True, staged_name=os.path.basename(staged), client_config=_client_config(staged))
    except InvalidJob as e:
        out["msg"] = e.msg
    print(json.dumps(out))


if __name__ == "__main__":
    main()
