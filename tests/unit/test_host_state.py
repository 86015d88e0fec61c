# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The no-change fast path (issue #15): the host record (module_utils/_host_state.py), the fingerprint of the
action plugin and the fast_path filter's decision, on real files in a temporary directory."""

from __future__ import annotations

import os
import stat

import pytest
from ansible.errors import AnsibleError

from ansible_collections.edgefl.nvflare.plugins.action import host_state as action
from ansible_collections.edgefl.nvflare.plugins.filter.fast_path import decide, effective
from ansible_collections.edgefl.nvflare.plugins.filter.host_probe import host_probe
from ansible_collections.edgefl.nvflare.plugins.module_utils import _host_state as hs

SHOW = """Id=nvflare-client.service
ActiveState=active
UnitFileState=enabled

Id=ufw.service
ActiveState=activating
UnitFileState=enabled
"""


def _units(state):
    return lambda units: dict((u, dict(state[u])) for u in units)


@pytest.fixture
def host(tmp_path):
    """A small host: a unit file, a kit tree, a venv site-packages, a big file recorded by stat only."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "unit.service").write_text("[Service]\nExecStart=/bin/true\n")
    kit = tmp_path / "ws" / "startup"
    kit.mkdir(parents=True)
    (kit / "client.crt").write_text("CERT")
    (kit / "client.key").write_text("KEY")
    os.chmod(kit / "client.key", 0o600)
    os.symlink("client.crt", kit / "link.crt")
    sp = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    sp.mkdir(parents=True)
    (sp / "nvflare-2.9.0.dist-info").mkdir()
    (tmp_path / "swap").write_bytes(b"\0" * 4096)
    items = [
        {"path": str(tmp_path / "etc" / "unit.service")},
        {"path": str(tmp_path / "ws" / "startup"), "kind": "tree"},
        {"path": str(tmp_path / "venv" / "lib" / "*" / "site-packages"), "kind": "names"},
        {"path": str(tmp_path / "swap"), "kind": "stat"},
        {"path": str(tmp_path / "not-there")},
        {"unit": "nvflare-client.service"},
        # the same item twice (two roles listing it) collapses
        {"path": str(tmp_path / "etc" / "unit.service"), "kind": "file"},
    ]
    units = {"nvflare-client.service": {"active": "active", "enabled": "enabled"}}
    return tmp_path, hs.normalize_items(items), units


def _record(tmp_path, normalized, units, fp="fp1"):
    path = str(tmp_path / "state" / "host-state.json")
    changed = hs.write_record(path, hs.make_record(fp, normalized, hs.observe(normalized, _units(units))))
    return path, changed


def _probe(path, fp, units):
    record = hs.read_record(path)
    items = hs.normalize_items((record or {}).get("items", {}).get("paths", [])
                               + [{"unit": u} for u in (record or {}).get("items", {}).get("units", [])])
    return hs.compare(record, fp, hs.observe(items, _units(units)))


def test_in_sync_after_record_and_record_is_root_only(host):
    tmp_path, normalized, units = host
    path, changed = _record(tmp_path, normalized, units)
    assert changed
    assert _probe(path, "fp1", units) == []
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    # the record holds digests, never the content of a file (the kit's key among them)
    with open(path) as f:
        text = f.read()
    assert "KEY" not in text and "CERT" not in text
    # the same observation again: nothing to write
    assert _record(tmp_path, normalized, units)[1] is False


@pytest.mark.parametrize("drift, expect", [
    (lambda t: (t / "etc" / "unit.service").write_text("[Service]\nExecStart=/bin/false\n"), "unit.service"),
    (lambda t: os.chmod(t / "etc" / "unit.service", 0o666), "unit.service"),
    (lambda t: os.unlink(t / "etc" / "unit.service"), "unit.service"),
    (lambda t: (t / "ws" / "startup" / "client.key").write_text("OTHER"), "startup/client.key"),
    (lambda t: os.chmod(t / "ws" / "startup" / "client.key", 0o644), "startup/client.key"),
    (lambda t: (t / "ws" / "startup" / "extra").write_text("x"), "startup/extra"),
    (lambda t: os.unlink(t / "ws" / "startup" / "link.crt"), "startup/link.crt"),
    (lambda t: (t / "venv" / "lib" / "python3.11" / "site-packages" / "nvflare-2.9.0.dist-info").rmdir(),
     "site-packages"),
    (lambda t: (t / "swap").write_bytes(b"\0" * 10), "swap"),
    (lambda t: (t / "not-there").write_text("now it is"), "not-there"),
])
def test_each_kind_of_drift_is_named(host, drift, expect):
    tmp_path, normalized, units = host
    path = _record(tmp_path, normalized, units)[0]
    drift(tmp_path)
    reasons = _probe(path, "fp1", units)
    assert len(reasons) == 1 and reasons[0].startswith("changed: ") and reasons[0].endswith(expect), reasons


def test_stat_kind_does_not_read_the_content(host):
    tmp_path, normalized, units = host
    path = _record(tmp_path, normalized, units)[0]
    (tmp_path / "swap").write_bytes(b"\1" * 4096)  # same size, mode, owner
    assert _probe(path, "fp1", units) == []


def test_unit_drift_fingerprint_and_missing_record(host):
    tmp_path, normalized, units = host
    path = _record(tmp_path, normalized, units)[0]
    failed = {"nvflare-client.service": {"active": "failed", "enabled": "enabled"}}
    assert _probe(path, "fp1", failed) == [
        "unit nvflare-client.service: failed/enabled, was active/enabled"]
    assert _probe(path, "fp2", units) == ["the inventory, the kit or the collection changed since the record"]
    assert _probe(path, "", units) == [
        "no fingerprint: the inventory needs something only known after fact gathering"]
    assert _probe(str(tmp_path / "nothing.json"), "fp1", units) == ["no record of an earlier converge"]
    with open(path, "w") as f:
        f.write("{not json")
    assert _probe(path, "fp1", units) == ["no record of an earlier converge"]
    # check mode says what it would remove and removes nothing
    assert hs.remove_record(path, check_mode=True) and os.path.exists(path)
    assert hs.remove_record(path) and not os.path.exists(path) and not hs.remove_record(path)
    # the record's own directory goes with it, not a parent
    assert not os.path.exists(os.path.dirname(path)) and os.path.isdir(str(tmp_path))


def test_many_differences_are_cut_short(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    for i in range(15):
        (d / ("f%02d" % i)).write_text("a")
    normalized = hs.normalize_items([{"path": str(d), "kind": "tree"}])
    path = _record(tmp_path, normalized, {})[0]
    for i in range(15):
        (d / ("f%02d" % i)).write_text("b")
    reasons = _probe(path, "fp1", {})
    assert len(reasons) == 11 and reasons[-1] == "... and 5 more"


def test_bad_items_and_big_trees_are_refused(tmp_path):
    with pytest.raises(hs.HostStateError, match="absolute 'path'"):
        hs.normalize_items([{"path": "relative/path"}])
    with pytest.raises(hs.HostStateError, match="unknown kind"):
        hs.normalize_items([{"path": "/etc/hosts", "kind": "content"}])
    with pytest.raises(hs.HostStateError, match="must be a dict"):
        hs.normalize_items(["/etc/hosts"])
    big = tmp_path / "big"
    big.mkdir()
    for i in range(hs.TREE_LIMIT + 1):
        (big / str(i)).write_text("")
    with pytest.raises(hs.HostStateError, match="kind 'names'"):
        hs.observe(hs.normalize_items([{"path": str(big), "kind": "tree"}]), _units({}))


def test_systemctl_show_blocks_follow_the_order_asked():
    got = hs.parse_systemctl_show(SHOW, ["nvflare-client.service", "ufw.service", "gone.service"])
    assert got == {
        "nvflare-client.service": {"active": "active", "enabled": "enabled"},
        "ufw.service": {"active": "active", "enabled": "enabled"},  # starting counts as running
        "gone.service": {"active": "unknown", "enabled": ""},
    }


def _template(values):
    def template(value):
        if isinstance(value, str) and value.startswith("{{"):
            name = value.strip("{} ")
            if name not in values:
                raise AnsibleError("'%s' is undefined" % name)
            return values[name]
        return value
    return template


def test_fingerprint_follows_the_inputs(tmp_path):
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "fed_client.json").write_text("{}")
    task_vars = {"nvflare_version": "2.9.0", "nvflare_org": "{{ org }}", "group_names": ["nvflare_clients"],
                 "ansible_host": "10.0.0.1", "__nvflare_internal": "{{ undefined_internal }}",
                 "inventory_hostname": "site-1"}
    base, reason = action.host_fingerprint(task_vars, _template({"org": "nvidia"}), {"site": "site-1"}, [str(kit)])
    assert base and not reason
    # the same inputs: the same fingerprint; only nvflare_*/edgefl_* variables count, not those that only steer a run
    again = dict(task_vars, ansible_host="10.0.0.2", inventory_hostname="other", nvflare_fast_path=False,
                 nvflare_min_clients="75%", nvflare_rollout_batch=2)
    assert action.host_fingerprint(again, _template({"org": "nvidia"}), {"site": "site-1"}, [str(kit)])[0] == base
    changes = [
        (dict(task_vars, nvflare_version="2.7.2"), {"org": "nvidia"}, {"site": "site-1"}),
        (task_vars, {"org": "acme"}, {"site": "site-1"}),
        (dict(task_vars, edgefl_extra=1), {"org": "nvidia"}, {"site": "site-1"}),
        (dict(task_vars, group_names=["nvflare_server"]), {"org": "nvidia"}, {"site": "site-1"}),
        (task_vars, {"org": "nvidia"}, {"site": "site-2"}),
    ]
    for tv, values, context in changes:
        assert action.host_fingerprint(tv, _template(values), context, [str(kit)])[0] != base
    (kit / "fed_client.json").write_text('{"changed": 1}')
    assert action.host_fingerprint(task_vars, _template({"org": "nvidia"}), {"site": "site-1"}, [str(kit)])[0] != base
    # a variable that needs facts: no fingerprint, and the reason names it
    fp, reason = action.host_fingerprint(dict(task_vars, nvflare_address="{{ facts_ip }}"),
                                         _template({"org": "nvidia"}), None, [])
    assert fp == "" and reason.startswith("nvflare_address needs facts (")
    # with facts gathered, the same failure is no longer a matter of facts
    fp, reason = action.host_fingerprint(dict(task_vars, nvflare_address="{{ facts_ip }}", ansible_facts={"a": 1}),
                                         _template({"org": "nvidia"}), None, [])
    assert fp == "" and reason.startswith("nvflare_address cannot be evaluated: ")


def test_collection_digest_covers_the_code(tmp_path):
    for top in action.COLLECTION_DIRS:
        (tmp_path / top).mkdir()
    (tmp_path / "roles" / "main.yml").write_text("a")
    (tmp_path / "plugins" / "x.pyc").write_text("ignored")
    first = action.code_digest(str(tmp_path))
    (tmp_path / "plugins" / "x.pyc").write_text("still ignored")
    assert action.code_digest(str(tmp_path)) == first
    (tmp_path / "roles" / "main.yml").write_text("b")
    assert action.code_digest(str(tmp_path)) != first
    assert action.collection_digest() == action.collection_digest()


def test_fast_path_decision():
    ok = {"in_sync": True, "reasons": []}
    probes = {"server1": ok, "site-1": ok, "site-2": {"in_sync": False, "reasons": ["changed: /etc/hosts"]},
              "site-3": {"unreachable": True, "msg": "ssh: no route", "in_sync": False}, "site-4": None}
    got = decide(["server1", "site-1", "site-2", "site-3", "site-4"], probes, ["server1"])
    assert got["skip"] == ["server1", "site-1"]
    assert got["full"] == {"site-2": ["changed: /etc/hosts"], "site-3": ["probe failed: ssh: no route"],
                           "site-4": ["not probed"]}
    # a server (or relay) that takes the full path takes every host with it
    probes["server1"] = {"in_sync": False, "reasons": ["unit x: failed/enabled, was active/enabled"]}
    got = decide(["server1", "site-1"], probes, ["server1"])
    assert got["skip"] == [] and got["full"]["site-1"] == ["server1 takes the full path"]
    # a relay outside the play (limit) that was not probed blocks too
    got = decide(["site-1"], {"site-1": ok, "server1": ok}, ["server1", "relay1"])
    assert got["skip"] == [] and got["full"]["site-1"] == ["relay1 takes the full path"]
    assert decide([], {}, ["server1"]) == {"skip": [], "full": {}, "reprobe": []}


def test_facts_needed_means_probing_again():
    facts = {"in_sync": False, "reasons": ["nvflare_address needs facts (...)"], "needs_facts": True}
    ok = {"in_sync": True, "reasons": [], "needs_facts": False}
    # only the client's own variables need facts: that client alone is probed again
    got = decide(["server1", "site-1", "site-2"], {"server1": ok, "site-1": facts, "site-2": ok}, ["server1"])
    assert got["reprobe"] == ["site-1"] and got["skip"] == ["server1", "site-2"]
    # the server's address comes from facts: it is in every host's model, so every host is probed again
    got = decide(["server1", "site-1"], {"server1": facts, "site-1": ok}, ["server1"])
    assert got["reprobe"] == ["server1", "site-1"] and got["skip"] == []
    # the second probe counts when it ran; a skipped one does not
    again = {"in_sync": True, "reasons": []}
    assert effective(facts, again) is again
    assert effective(facts, {"skipped": True, "changed": False}) is facts
    assert effective(facts, None) is facts
    # the record play's filter: the same rule, {} when neither probe ran (nothing to record)
    assert host_probe(facts, again) is again and host_probe(facts, None) is facts and host_probe(None, None) == {}
    assert host_probe(None, {"skipped": True}) == {}
