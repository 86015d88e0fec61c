# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/wait.yml after the server failed earlier in the same run: one look at the clients, not a wait of
nvflare_wait_timeout for a server that is down; and the nvflare_service role's client registration wait, which a
failed server or relay up the client's chain skips. Through ansible-playbook, with a server that does not answer."""

from __future__ import annotations

import os
import re
import shutil
import sys

import pytest
from conftest import ROOT, flat, run_playbook, unreachable_inventory
from provision_files import kit, spec

from ansible_collections.edgefl.nvflare.plugins.modules.provision import main as provision_main

# the server fails in a first play (it does not answer; the client, a local host, goes on), then the wait of site.yml
BOOK = """
- name: Reach the hosts
  hosts: nvflare_server:nvflare_clients
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:

- name: Wait
  ansible.builtin.import_playbook: %s
""" % os.path.join(ROOT, "playbooks", "wait.yml")


@pytest.mark.parametrize("server_failed", [True, False])
def test_the_wait_takes_one_look_when_the_server_failed_in_this_run(tmp_path, run_module, server_failed):
    ws = unreachable_inventory(tmp_path, "ansible_connection: local, ansible_python_interpreter: %s" % sys.executable)
    # a real admin kit, of a server that is not there (its name, server1, does not resolve)
    run_module(provision_main, spec(tmp_path / "prov"))
    shutil.copytree(kit(tmp_path / "prov", "admin@nvidia.com"), str(ws / "admin" / "admin@nvidia.com"))
    (tmp_path / "book.yml").write_text(BOOK if server_failed else BOOK.replace("nvflare_server:", ""))
    proc = run_playbook(tmp_path, "-i", "inv.yml", "book.yml", "-e", "nvflare_wait_timeout=20",
                        "-e", "nvflare_control_python=%s" % sys.executable, timeout=240)
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode != 0, out[-3000:]
    said = ("The server (s) failed earlier in this run (its error is above), so no client can register now: one look "
            "at the clients instead of a wait of 20 s.")
    assert "the server did not answer" in out, out[-3000:]
    waited = re.findall(r"only 0 of the 1 clients connected after (\d+)s", out)
    assert waited, out[-3000:]
    if server_failed:
        assert "UNREACHABLE" in proc.stdout and said in out, out[-3000:]
        # one look (a timeout of 0): one poll, which gives up on the server after its connect timeout (5 s), not
        # the 20 s of nvflare_wait_timeout
        assert int(waited[0]) < 20, out[-3000:]
    else:
        assert said not in out and "Say that the server failed" in out, out[-3000:]
        assert int(waited[0]) >= 20, out[-3000:]
