# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet decisions: quorum of the wait, rollout batches of the deploy (module_utils/_quorum.py, the
quorum and rollout_serial filters), and the serial batches a real ansible-playbook run makes of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.quorum import quorum as quorum_filter
from ansible_collections.edgefl.nvflare.plugins.filter.rollout_serial import rollout_serial as serial_filter
from ansible_collections.edgefl.nvflare.plugins.module_utils import _quorum as q

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SITES = ["site-1", "site-2", "site-3", "site-4"]


@pytest.mark.parametrize(
    "value, expected",
    [(None, 4), ("all", 4), ("", 4), ("ALL", 4), (3, 3), ("3", 3), (0, 0),
     ("75%", 3), ("50%", 2), ("60%", 3), ("100%", 4), ("1%", 1)],
)
def test_min_clients(value, expected):
    assert q.min_clients(value, 4) == expected


@pytest.mark.parametrize(
    "value, words",
    [(5, "more than the 4"), ("0%", "(0, 100]"), ("150%", "(0, 100]"), ("three", "a count"), (True, "a count"), (2.5, "whole number")],
)
def test_min_clients_refused(value, words):
    with pytest.raises(q.QuorumError) as exc:
        q.min_clients(value, 4)
    assert words in str(exc.value)


def test_quorum_names_missing_and_extra():
    res = q.quorum(SITES, ["site-1", "site-3", "site-4", "rogue"], 3)
    assert res["ok"] and not res["all_connected"]
    assert res["connected"] == ["site-1", "site-3", "site-4"] and res["missing"] == ["site-2"]
    assert res["extra"] == ["rogue"] and res["min_clients"] == 3
    assert res["msg"] == "3/4 clients connected (quorum 3); missing: site-2; not in the inventory: rogue"


def test_quorum_default_is_all_and_extra_clients_do_not_count():
    res = q.quorum(SITES, ["site-1", "site-2", "site-3", "rogue"])
    assert not res["ok"] and res["missing"] == ["site-4"] and res["min_clients"] == 4
    full = q.quorum(SITES, SITES)
    assert full["ok"] and full["all_connected"] and full["msg"] == "4/4 clients connected (quorum 4)"


def test_quorum_filter_argument_order_and_errors():
    assert quorum_filter(["site-1"], SITES, "25%")["ok"]
    with pytest.raises(AnsibleFilterError, match="more than the 4"):
        quorum_filter([], SITES, 9)


@pytest.mark.parametrize(
    "connected, elapsed, decision",
    [
        (SITES, 0, "done"),  # everyone there: done at once
        (SITES[:3], 5, "wait"),  # quorum, but the grace for the 4th has not passed
        (SITES[:3], 30, "done"),  # quorum and grace passed: done, site-4 named missing
        (SITES[:2], 30, "wait"),  # below quorum: keep waiting until the timeout
        (SITES[:2], 180, "fail"),  # below quorum at the timeout
        (SITES[:3], 180, "done"),
    ],
)
def test_wait_decision(connected, elapsed, decision):
    res = q.quorum(SITES, connected, 3)
    assert q.wait_decision(res, elapsed, timeout=180, grace=30) == decision


def test_wait_decision_timeout_shorter_than_grace():
    res = q.quorum(SITES, SITES[:3], 3)
    assert q.wait_decision(res, 10, timeout=10, grace=30) == "done"


def test_a_decimal_percentage_is_exact():
    # float arithmetic made 64.4% of 250 clients 162 (250 * 64.4 / 100 = 161.00000000000003)
    assert q.min_clients("64.4%", 250) == 161 and q.min_clients("64.5%", 250) == 162


def test_failure_msg_and_wait_result():
    status = {"reachable": True, "client_names": ["site-1", "site-2"], "clients": [], "changed": False, "invocation": {}}
    res, out = q.wait_result(status, SITES, "3", 181.4)
    assert not out["quorum_reached"] and out["missing_clients"] == ["site-3", "site-4"] and out["waited"] == 181.4
    assert "invocation" not in out and out["client_names"] == ["site-1", "site-2"]
    assert q.failure_msg(res, 181.4) == (
        "only 2 of the 4 clients connected after 181s, below the quorum of 3 (nvflare_min_clients); missing: site-3, site-4"
    )
    gone = {"reachable": False, "client_names": [], "unreachable_msg": "cannot open an admin session: Connection refused"}
    res, down = q.wait_result(gone, SITES, "all", 3)
    assert down["msg"].startswith("server not reachable; 0/4 clients connected")
    # the failure leads with the server that did not answer, not with clients that cannot be seen
    assert q.failure_msg(res, 180.2, gone) == (
        "the server did not answer (cannot open an admin session: Connection refused): check its service (systemctl "
        "status on the server host) and its log (<server workspace>/log.txt) first; only 0 of the 4 clients connected "
        "after 180s, below the quorum of 4 (nvflare_min_clients); missing: site-1, site-2, site-3, site-4")


@pytest.mark.parametrize(
    "batch, clients, others, serial",
    [
        ("all", 4, 1, [5]),
        (None, 4, 1, [5]),
        (1, 4, 1, [2, 1]),
        ("2", 4, 2, [4, 2]),
        ("25%", 4, 1, [2, 1]),
        ("30%", 10, 1, [4, 3]),
        ("50%", 3, 1, [3, 2]),
        (10, 4, 1, [5]),  # a batch of more than the clients is all of them
        ("100%", 4, 1, [5]),
        ("all", 0, 1, [1]),
    ],
)
def test_rollout_serial(batch, clients, others, serial):
    assert q.rollout_serial(batch, clients, others) == serial


@pytest.mark.parametrize("batch", [0, "0", "0%", "x", "-1"])
def test_rollout_serial_refused(batch):
    with pytest.raises(q.QuorumError):
        q.rollout_serial(batch, 4, 1)


def test_rollout_serial_filter_counts_groups():
    groups = {"nvflare_server": ["srv"], "nvflare_relays": ["r1"], "nvflare_clients": ["c1", "c2", "c3", "c4", "c5"]}
    assert serial_filter("40%", groups) == [4, 2]
    assert serial_filter("all", {"nvflare_server": ["srv"], "nvflare_clients": ["c1"]}) == [2]
    assert serial_filter(1, groups, ["c3", "c4", "c5"]) == [1, 1]
    assert serial_filter(2, groups, ["r1", "c4", "c5"]) == [3]
    with pytest.raises(AnsibleFilterError, match="nvflare_rollout_batch"):
        serial_filter("lots", groups)


PLAY = """
- name: Mark the hosts in sync, as deploy.yml's fast path does
  hosts: nvflare_server:nvflare_relays:nvflare_clients
  gather_facts: false
  tasks:
    - name: Group the hosts in sync
      ansible.builtin.group_by:
        key: nvflare_in_sync
      when: inventory_hostname in (in_sync | default('')).split(',')

- name: Batches
  hosts: nvflare_server:nvflare_relays:nvflare_clients:!nvflare_in_sync
  gather_facts: false
  serial: "{{ nvflare_rollout_batch | default('all') | edgefl.nvflare.rollout_serial(groups, ansible_play_hosts_all) }}"
  max_fail_percentage: "{{ nvflare_max_fail_percentage | default(omit) }}"
  tasks:
    - name: Record the batch
      ansible.builtin.debug:
        msg: "BATCH {{ ansible_play_batch | to_json }}"
      run_once: true
    - name: Fail on c2
      ansible.builtin.fail:
        msg: broken
      when: inventory_hostname == 'c2' and fail_c2 | default(false) | bool
"""

INVENTORY = """
all:
  vars: {ansible_connection: local, ansible_python_interpreter: "%s"}
  children:
    nvflare_server: {hosts: {srv: }}
    nvflare_relays: {hosts: {r1: }}
    nvflare_clients: {hosts: {c1: , c2: , c3: , c4: , c5: }}
"""


def _batches(tmp_path, *extra):
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "inv.yml").write_text(INVENTORY % sys.executable)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inv.yml", "play.yml", *extra],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, check=False,
    )
    batches = [json.loads(line.split("BATCH ", 1)[1].rstrip('"').replace('\\"', '"')) for line in proc.stdout.splitlines() if '"msg": "BATCH ' in line]
    return proc, batches


def test_serial_in_a_real_play(tmp_path):
    proc, batches = _batches(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert batches == [["srv", "r1", "c1", "c2", "c3", "c4", "c5"]]
    proc, batches = _batches(tmp_path, "-e", "nvflare_rollout_batch=2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert batches == [["srv", "r1", "c1", "c2"], ["c3", "c4"], ["c5"]]


def test_serial_counts_only_the_hosts_of_the_play(tmp_path):
    """The server and relay in sync (deploy.yml's fast path leaves them out of the install play), or a --limit to
    some clients: the first batch is one batch of clients, not the server's and relay's places filled by clients."""
    proc, batches = _batches(tmp_path, "-e", "nvflare_rollout_batch=1", "-e", "in_sync=srv,r1,c1,c2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert batches == [["c3"], ["c4"], ["c5"]], proc.stdout
    proc, batches = _batches(tmp_path, "-e", "nvflare_rollout_batch=1", "--limit", "c3,c4,c5")
    assert batches == [["c3"], ["c4"], ["c5"]], proc.stdout
    proc, batches = _batches(tmp_path, "-e", "nvflare_rollout_batch=2", "-e", "in_sync=c1")
    assert batches == [["srv", "r1", "c2", "c3"], ["c4", "c5"]], proc.stdout


def test_max_fail_percentage_in_a_real_play(tmp_path):
    # one failed host of the first batch of 4 (server, relay, 2 clients) is 25%: above 20 the play stops
    # and the later batches never run; at 30 it goes on
    proc, batches = _batches(tmp_path, "-e", "nvflare_rollout_batch=2", "-e", "fail_c2=true", "-e", "nvflare_max_fail_percentage=20")
    assert proc.returncode == 2 and batches == [["srv", "r1", "c1", "c2"]], proc.stdout
    proc, batches = _batches(tmp_path, "-e", "nvflare_rollout_batch=2", "-e", "fail_c2=true", "-e", "nvflare_max_fail_percentage=30")
    assert proc.returncode == 2 and len(batches) == 3, proc.stdout
    # without the limit the other clients still converge
    proc, batches = _batches(tmp_path, "-e", "nvflare_rollout_batch=2", "-e", "fail_c2=true")
    assert proc.returncode == 2 and batches == [["srv", "r1", "c1", "c2"], ["c3", "c4"], ["c5"]], proc.stdout


def test_a_quorum_of_zero_never_fails_and_names_every_missing_client():
    """nvflare_min_clients=0: a fleet deployed while its devices are off (docs/playbooks.md)."""
    out = q.quorum(SITES, [], 0)
    assert out["ok"] is True and out["min_clients"] == 0
    assert out["missing"] == SITES and "missing: site-1, site-2, site-3, site-4" in out["msg"]
