# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.provision with relays: REAL NVFLARE provisioning into temporary workspaces."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
import yaml

from conftest import COLLECTIONS
import provision_files
from provision_files import PROJECT, cert_state, kit, kit_files, read, read_json
from tree_snapshot import snapshot_without_lock

from ansible_collections.edgefl.nvflare.plugins.module_utils._provision_spec import (
    RELAY_MIN_NVFLARE,
    SpecError,
    check_relay_support,
    version_tuple,
)
from ansible_collections.edgefl.nvflare.plugins.modules.provision import main


snapshot = snapshot_without_lock


RELAY_1 = {"name": "relay-1", "host": "10.0.0.5"}  # default port 8102, connects to the server
RELAY_2 = {"name": "relay-2", "host": "relay2.lan", "port": 8103, "connect_to": "relay-1"}  # chained
CLIENTS = ({"name": "site-1", "connect_to": "relay-1"}, {"name": "site-2", "connect_to": "relay-1"},
           {"name": "site-3"})


def spec(ws, relays=(RELAY_1,), clients=CLIENTS, **over):
    return provision_files.spec(ws, clients=clients, relays=relays, **over)


@pytest.fixture
def provisioned(tmp_path, run_module):
    ws = tmp_path / "ws"
    result = run_module(main, spec(ws))
    assert result["changed"] is True, result
    return ws, result


# ---------------------------------------------------------------- what NVFLARE writes


def test_relay_kit_dials_the_server(provisioned):
    ws, result = provisioned
    assert result["kits"]["relay-1"] == kit(ws, "relay-1")
    fed_relay = read_json(kit(ws, "relay-1", "startup", "fed_relay.json"))
    assert fed_relay["identity"] == "relay-1"
    assert fed_relay["connect_to"]["address"] == "server1:8002"
    assert fed_relay["connect_to"]["fqcn"] == "server" and fed_relay["connect_to"]["identity"] == "server1"
    # the relay listens on its address and port (local/comm_config.json) with a listener certificate for it
    comm = read_json(kit(ws, "relay-1", "local", "comm_config.json"))
    assert comm["internal"]["resources"]["host"] == "10.0.0.5" and comm["internal"]["resources"]["port"] == 8102
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(read(kit(ws, "relay-1", "startup", "server.crt")))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "10.0.0.5" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    for fn in ("client.crt", "client.key", "rootCA.pem", "server.key", "start.sh", "sub_start.sh", "stop_fl.sh"):
        assert os.path.isfile(kit(ws, "relay-1", "startup", fn)), fn
    sub_start = read(kit(ws, "relay-1", "startup", "sub_start.sh")).decode()
    assert "-m nvflare.private.fed.app.relay.relay -m \"$WORKSPACE\" -s fed_relay.json" in sub_start


def test_clients_behind_the_relay_dial_it(provisioned):
    ws = provisioned[0]
    for name in ("site-1", "site-2"):
        relay = read_json(kit(ws, name, "local", "relay__resources.json"))["relay_config"]
        assert relay["address"] == "10.0.0.5:8102" and relay["identity"] == "relay-1" and relay["fqcn"] == "relay-1"
        assert read_json(kit(ws, name, "local", "comm_config.json"))["backbone_conn_gen"] == 1
        # the server's own certificate identity is checked end to end, through the relay
        fed_client = read_json(kit(ws, name, "startup", "fed_client.json"))
        assert fed_client["servers"][0]["identity"] == "server1"
    assert not os.path.exists(kit(ws, "site-3", "local", "relay__resources.json"))
    assert read_json(kit(ws, "site-3", "startup", "fed_client.json"))["servers"][0]["service"]["target"] == \
        "server1:8002"
    # the server learns which certificate each relayed client presents
    fed_server = read_json(kit(ws, "server1", "startup", "fed_server.json"))
    assert fed_server["servers"][0]["auth_identity_map"] == {"relay-1.site-1": "site-1", "relay-1.site-2": "site-2"}


def test_result_describes_relays(provisioned):
    result = provisioned[1]
    assert [p["type"] for p in result["participants"]] == ["server", "relay", "client", "client", "client", "admin"]
    assert result["participants"][1] == {"name": "relay-1", "type": "relay", "org": "nvidia", "host": "10.0.0.5",
                                         "default_host": "10.0.0.5", "port": 8102, "host_names": ["10.0.0.5"]}
    assert {"name": "site-1", "type": "client", "org": "nvidia", "connect_to": "relay-1"} in result["participants"]


def test_chained_relays(tmp_path, run_module):
    ws = tmp_path / "ws"
    clients = list(CLIENTS) + [{"name": "site-4", "connect_to": "relay-2"}]
    result = run_module(main, spec(ws, relays=(RELAY_1, RELAY_2), clients=clients))
    assert result["changed"] is True
    fed_relay = read_json(kit(ws, "relay-2", "startup", "fed_relay.json"))
    assert fed_relay["connect_to"]["address"] == "10.0.0.5:8102"
    assert fed_relay["connect_to"]["fqcn"] == "relay-1" and fed_relay["connect_to"]["identity"] == "relay-1"
    relay = read_json(kit(ws, "site-4", "local", "relay__resources.json"))["relay_config"]
    assert relay["address"] == "relay2.lan:8103" and relay["fqcn"] == "relay-1.relay-2"
    # the first relay checks the certificate of the client two hops down
    assert read_json(kit(ws, "relay-1", "startup", "fed_relay.json"))["auth_identity_map"] == {
        "relay-1.relay-2.site-4": "site-4"}
    assert run_module(main, spec(ws, relays=(RELAY_1, RELAY_2), clients=clients))["changed"] is False


def test_relay_without_host_listens_on_its_name(tmp_path, run_module):
    ws = tmp_path / "ws"
    run_module(main, spec(ws, relays=({"name": "relay-1", "port": 9000},)))
    relay = read_json(kit(ws, "site-1", "local", "relay__resources.json"))["relay_config"]
    assert relay["address"] == "relay-1:9000"


# ---------------------------------------------------------------- idempotence, check mode


def test_four_step_idempotence(tmp_path, run_module):
    ws = tmp_path / "ws"
    steps = [run_module(main, spec(ws), check_mode=cm) for cm in (True, False, True, False)]
    assert [s["changed"] for s in steps] == [True, True, False, False]
    assert steps[0]["result_dir"] == steps[1]["result_dir"]


def test_second_run_writes_nothing(provisioned, run_module):
    ws = provisioned[0]
    before = snapshot(str(ws))
    again = run_module(main, spec(ws))
    assert again["changed"] is False and again["reasons"] == {}
    assert snapshot(str(ws)) == before


def test_check_mode_reports_relay_routes_and_writes_nothing(provisioned, run_module):
    ws = provisioned[0]
    before = snapshot(str(ws))
    clients = list(CLIENTS) + [{"name": "site-4", "connect_to": "relay-1"}]
    result = run_module(main, spec(ws, clients=clients), check_mode=True, diff=True)
    assert result["changed"] is True and result["added"] == ["site-4"]
    assert "client site-4 connect_to=relay-1" in result["diff"]["after"]
    assert snapshot(str(ws)) == before


# ---------------------------------------------------------------- incremental changes


def _fresh_kits(tmp_path, run_module, args, names):
    """The same spec provisioned from scratch: what a full NVFLARE run writes."""
    ws = tmp_path / "fresh"
    run_module(main, dict(args, workspace=str(ws)))
    return kit_files(ws, names)


NOT_KEYS = ("fed_server.json", "fed_client.json", "fed_relay.json", "relay__resources.json", "comm_config.json")


def test_add_client_behind_relay(provisioned, run_module, tmp_path):
    """One new key. Relay and admin kits byte-identical. NVFLARE 2.9 puts every relayed client's certificate
    identity into the server's and every client's kit (auth_identity_map), so those are rebuilt with their
    keys: only fed_server.json / fed_client.json change in them."""
    ws = provisioned[0]
    old = ["server1", "relay-1", "site-1", "site-2", "site-3", "admin@nvidia.com"]
    certs_before = cert_state(ws)
    before = kit_files(ws, old)
    args = spec(ws, clients=list(CLIENTS) + [{"name": "site-4", "connect_to": "relay-1"}])
    result = run_module(main, args)
    assert result["added"] == ["site-4"] and result["regenerated_keys"] == []
    assert result["reasons"] == {"site-4": "added", "server1": "relay routes changed",
                                 "site-1": "relay routes changed", "site-2": "relay routes changed",
                                 "site-3": "relay routes changed"}
    certs_after = cert_state(ws)
    for key, value in certs_before.items():
        assert certs_after[key] == value, key
    assert sorted(set(certs_after) - set(certs_before)) == ["site-4"]
    after = kit_files(ws, old)
    changed = sorted(k for k in before if before[k] != after[k])
    assert changed == ["server1/startup/fed_server.json", "site-1/startup/fed_client.json",
                       "site-2/startup/fed_client.json", "site-3/startup/fed_client.json"]
    assert sorted(after) == sorted(before)
    relay = read_json(kit(ws, "site-4", "local", "relay__resources.json"))["relay_config"]
    assert relay["address"] == "10.0.0.5:8102"
    # what the incremental run wrote is what a full NVFLARE run writes
    names = old + ["site-4"]
    fresh = _fresh_kits(tmp_path, run_module, args, names)
    mine = kit_files(ws, names)
    for rel in fresh:
        if os.path.basename(rel) in NOT_KEYS:
            assert mine[rel] == fresh[rel], rel
    prod = os.path.join(str(ws), PROJECT, result["result_dir"])
    assert sorted(os.listdir(prod)) == ["server1", "site-1", "site-2", "site-3", "site-4"]
    assert run_module(main, args)["changed"] is False


def test_add_direct_client_next_to_relays_builds_only_its_kit(provisioned, run_module):
    ws = provisioned[0]
    old = ["server1", "relay-1", "site-1", "site-2", "site-3", "admin@nvidia.com"]
    before = kit_files(ws, old)
    result = run_module(main, spec(ws, clients=list(CLIENTS) + [{"name": "site-5"}]))
    assert result["reasons"] == {"site-5": "added"}
    assert kit_files(ws, old) == before
    assert os.listdir(result["result_dir"]) == ["site-5"]
    # its kit still knows every relayed client's certificate identity
    assert read_json(kit(ws, "site-5", "startup", "fed_client.json"))["client"]["auth_identity_map"] == {
        "relay-1.site-1": "site-1", "relay-1.site-2": "site-2"}


def test_add_relay_builds_only_its_kit(provisioned, run_module):
    ws = provisioned[0]
    old = ["server1", "relay-1", "site-1", "site-2", "site-3", "admin@nvidia.com"]
    before = kit_files(ws, old)
    certs_before = cert_state(ws)
    relay_3 = {"name": "relay-3", "host": "10.0.0.7"}
    result = run_module(main, spec(ws, relays=(RELAY_1, relay_3)))
    assert result["reasons"] == {"relay-3": "added"}
    assert kit_files(ws, old) == before
    assert sorted(set(cert_state(ws)) - set(certs_before)) == ["relay-3"]
    assert os.listdir(result["result_dir"]) == ["relay-3"]


def test_move_client_to_another_relay(provisioned, run_module):
    ws = provisioned[0]
    relay_3 = {"name": "relay-3", "host": "10.0.0.7"}
    run_module(main, spec(ws, relays=(RELAY_1, relay_3)))
    clients = [{"name": "site-1", "connect_to": "relay-3"}] + list(CLIENTS[1:])
    key = read(kit(ws, "site-1", "startup", "client.key"))
    result = run_module(main, spec(ws, relays=(RELAY_1, relay_3), clients=clients))
    assert result["reasons"]["site-1"] == "definition changed" and result["regenerated_keys"] == []
    assert read(kit(ws, "site-1", "startup", "client.key")) == key
    assert read_json(kit(ws, "site-1", "local", "relay__resources.json"))["relay_config"]["address"] == "10.0.0.7:8102"
    assert "relay-3.site-1" in read_json(kit(ws, "server1", "startup", "fed_server.json"))["servers"][0][
        "auth_identity_map"]


def test_relay_port_change_rebuilds_the_relay_and_its_clients(provisioned, run_module):
    ws = provisioned[0]
    result = run_module(main, spec(ws, relays=(dict(RELAY_1, port=9102),)))
    assert sorted(result["changed_participants"]) == ["relay-1", "site-1", "site-2"]
    assert read_json(kit(ws, "site-2", "local", "relay__resources.json"))["relay_config"]["address"] == "10.0.0.5:9102"


def test_remove_client_behind_relay(provisioned, run_module):
    ws = provisioned[0]
    result = run_module(main, spec(ws, clients=[CLIENTS[0], CLIENTS[2]]))
    assert result["removed"] == ["site-2"]
    assert not os.path.lexists(kit(ws, "site-2"))
    assert read_json(kit(ws, "server1", "startup", "fed_server.json"))["servers"][0]["auth_identity_map"] == {
        "relay-1.site-1": "site-1"}
    assert "relay-1" not in result["changed_participants"]


def test_flat_to_relays_and_back(tmp_path, run_module):
    ws = tmp_path / "ws"
    flat = spec(ws, relays=(), clients=[{"name": "site-1"}, {"name": "site-3"}])
    run_module(main, flat)
    state = read(os.path.join(str(ws), PROJECT, "state", "edgefl_provision.json"))
    assert b"links_fp" not in state  # flat workspaces keep today's state format
    with_relay = run_module(main, spec(ws, clients=[{"name": "site-1", "connect_to": "relay-1"}, {"name": "site-3"}]))
    assert with_relay["added"] == ["relay-1"]
    assert "relay__resources.json" in os.listdir(kit(ws, "site-1", "local"))
    back = run_module(main, flat)
    assert back["removed"] == ["relay-1"]
    assert "relay__resources.json" not in os.listdir(kit(ws, "site-1", "local"))
    assert run_module(main, flat)["changed"] is False


# ---------------------------------------------------------------- security


def test_modes_and_no_key_material_in_results(tmp_path, run_module):
    ws = tmp_path / "ws"
    results = [run_module(main, spec(ws, relays=(RELAY_1, RELAY_2)), diff=True)]
    results.append(run_module(main, spec(ws, clients=list(CLIENTS) + [{"name": "site-4", "connect_to": "relay-2"}],
                                         relays=(RELAY_1, RELAY_2)), diff=True))
    for name in ("relay-1", "relay-2"):
        for fn in ("client.key", "server.key"):
            assert stat.S_IMODE(os.stat(kit(ws, name, "startup", fn)).st_mode) == 0o600
    state = os.path.join(str(ws), PROJECT, "state")
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    for fn in os.listdir(state):
        assert stat.S_IMODE(os.stat(os.path.join(state, fn)).st_mode) == 0o600, fn
    text = json.dumps(results)
    assert "PRIVATE KEY" not in text and "BEGIN" not in text


# ---------------------------------------------------------------- bad input: clear error, nothing written


BAD = [
    ("client-unknown-relay", {"clients": [{"name": "site-1", "connect_to": "relay-9"}]},
     "clients[0].connect_to", "'relay-9' is not a relay of this project (relays: relay-1)"),
    ("relay-unknown-parent", {"relays": [dict(RELAY_1, connect_to="relay-9")]},
     "relays[0].connect_to", "'relay-9' is not a relay"),
    ("relay-to-itself", {"relays": [dict(RELAY_1, connect_to="relay-1")]}, "relays[0].connect_to", "itself"),
    ("cycle", {"relays": [dict(RELAY_1, connect_to="relay-2"), RELAY_2]}, "connect_to",
     "cycle: relay-1 -> relay-2 -> relay-1"),
    ("client-to-a-client", {"clients": [{"name": "site-1"}, {"name": "site-2", "connect_to": "site-1"}]},
     "clients[1].connect_to", "not a relay"),
    ("relay-named-like-client", {"relays": [dict(RELAY_1, name="site-3")]}, "clients[2].name", "unique"),
    ("relay-named-like-server", {"relays": [dict(RELAY_1, name="server1")]}, "relays[0].name", "unique"),
    ("two-relays-one-port", {"relays": [RELAY_1, {"name": "relay-2", "host": "10.0.0.5"}]}, "relays[1].port",
     "both listen on 10.0.0.5:8102"),
    ("relay-port-zero", {"relays": [dict(RELAY_1, port=0)]}, "relays[0].port", "1-65535"),
    ("relay-port-too-big", {"relays": [dict(RELAY_1, port=70000)]}, "relays[0].port", "1-65535"),
    ("relay-bad-ip", {"relays": [dict(RELAY_1, host="10.0.0.300")]}, "relays[0].host", "not a valid IP"),
    ("relay-bad-host-name", {"relays": [dict(RELAY_1, host="bad_host!")]}, "relays[0].host", "host name"),
    ("relay-bad-host-names", {"relays": [dict(RELAY_1, host_names=["-x"])]}, "relays[0].host_names[0]",
     "host name"),
    ("relay-name-nvflare-rejects", {"relays": [{"name": "relay.lan"}],
                                    "clients": [{"name": "site-1", "connect_to": "relay.lan"}]},
     "relays[0].name", "NVFLARE rejects relay name"),
]


@pytest.mark.parametrize("case, over, field, text", BAD, ids=[c[0] for c in BAD])
@pytest.mark.parametrize("existing", [False, True], ids=["fresh", "existing"])
def test_bad_input_writes_nothing(tmp_path, run_module, case, over, field, text, existing):
    ws = tmp_path / "ws"
    if existing:
        run_module(main, spec(ws))
    before = snapshot(str(tmp_path))
    for check_mode in (True, False):
        result = run_module(main, spec(ws, **over), check_mode=check_mode)
        assert result.get("failed") is True, result
        assert field in result["msg"] and text in result["msg"], result["msg"]
    assert snapshot(str(tmp_path)) == before


def test_project_file_with_relays(tmp_path, run_module):
    parts = [{"name": "server1", "type": "server", "org": "nvidia"},
             {"name": "relay-1", "type": "relay", "org": "nvidia",
              "listening_host": {"default_host": "10.0.0.5", "port": 8102}},
             {"name": "site-1", "type": "client", "org": "nvidia", "connect_to": {"name": "relay-1"}}]
    pf = tmp_path / "project.yml"
    pf.write_text(yaml.safe_dump({"api_version": 3, "name": PROJECT, "participants": parts}))
    args = {"workspace": str(tmp_path / "ws"), "project_file": str(pf)}
    result = run_module(main, args)
    assert sorted(result["kits"]) == ["relay-1", "server1", "site-1"]
    assert read_json(kit(tmp_path / "ws", "site-1", "local", "relay__resources.json"))["relay_config"][
        "address"] == "10.0.0.5:8102"
    assert run_module(main, args)["changed"] is False
    parts[2]["connect_to"] = {"name": "relay-x"}
    pf.write_text(yaml.safe_dump({"api_version": 3, "name": PROJECT, "participants": parts}))
    bad = run_module(main, args)
    assert bad["failed"] is True and "participants[2].connect_to" in bad["msg"]
    parts[1].pop("listening_host")
    parts[2]["connect_to"] = {"name": "relay-1"}
    pf.write_text(yaml.safe_dump({"api_version": 3, "name": PROJECT, "participants": parts}))
    bad = run_module(main, args)
    assert bad["failed"] is True and "participants[1].listening_host" in bad["msg"]


def test_project_file_and_relays_are_exclusive(tmp_path, run_module):
    pf = tmp_path / "project.yml"
    pf.write_text("{}")
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": str(pf), "relays": [RELAY_1]})
    assert result["failed"] is True and "server/relays/clients/admins" in result["msg"]


# ---------------------------------------------------------------- NVFLARE versions without relays


@pytest.mark.parametrize("version, ok", [("2.5.2", False), ("2.4.0", False), ("2.6.0", True), ("2.6.0rc1", True),
                                         ("2.9.0", True), ("3.0.0", True), ("2.10.1", True)])
def test_relay_version_gate(version, ok):
    project = {"participants": [{"name": "relay-1", "type": "relay"}]}
    if ok:
        check_relay_support(project, {"relay-1": "relays[0]"}, version)
    else:
        with pytest.raises(SpecError) as exc:
            check_relay_support(project, {"relay-1": "relays[0]"}, version)
        assert "need nvflare 2.6.0 or later" in exc.value.msg and version in exc.value.msg
    check_relay_support({"participants": [{"name": "s", "type": "client"}]}, {}, version)


def test_version_tuple():
    assert version_tuple("2.9.0") == (2, 9, 0) and version_tuple("2.10.0rc2") == (2, 10, 0)
    assert version_tuple(RELAY_MIN_NVFLARE) == (2, 6, 0)


def _run_with_installed_version(tmp_path, version, args):
    """Run the module in a process whose importable nvflare reports ``version`` (its dist-info)."""
    import nvflare

    libdir = tmp_path / "lib"
    libdir.mkdir()
    os.symlink(os.path.dirname(nvflare.__file__), str(libdir / "nvflare"))
    info = libdir / ("nvflare-%s.dist-info" % version)
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nvflare\nVersion: %s\n" % version)
    argsfile = tmp_path / "args.json"
    argsfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(libdir), COLLECTIONS]))
    code = "import sys; sys.argv = ['provision', sys.argv[1]]; " \
           "from ansible_collections.edgefl.nvflare.plugins.modules.provision import main; main()"
    proc = subprocess.run([sys.executable, "-c", code, str(argsfile)], env=env, capture_output=True, text=True,
                          check=False)
    return json.loads(proc.stdout)


def test_older_nvflare_refuses_relays_before_writing(tmp_path):
    ws = tmp_path / "ws"
    result = _run_with_installed_version(tmp_path, "2.5.2", spec(ws))
    assert result["failed"] is True
    assert "relay participants need nvflare 2.6.0 or later, the control node has nvflare 2.5.2" in result["msg"]
    assert result["field"] == "relays[0]"
    assert not os.path.exists(str(ws))


def test_project_file_with_quoted_ports_gets_numbers(tmp_path, run_module):
    """NVFLARE 2.9 provisions ports written as strings ("8002") into working kits; such a project file was refused.
    The ports are taken as numbers, so the kits, the result and the firewall see one form; a port that is no number
    is still refused."""
    parts = [{"name": "server1", "type": "server", "org": "nvidia", "fed_learn_port": "8012", "admin_port": "8013"},
             {"name": "relay-1", "type": "relay", "org": "nvidia",
              "listening_host": {"default_host": "10.0.0.5", "port": "8102"}},
             {"name": "site-1", "type": "client", "org": "nvidia", "connect_to": {"name": "relay-1"}},
             {"name": "site-2", "type": "client", "org": "nvidia"}]
    pf = tmp_path / "project.yml"
    pf.write_text(yaml.safe_dump({"api_version": 3, "name": PROJECT, "participants": parts}))
    args = {"workspace": str(tmp_path / "ws"), "project_file": str(pf)}
    result = run_module(main, args)
    assert result["changed"] is True, result.get("msg")
    server = [p for p in result["participants"] if p["type"] == "server"][0]
    assert (server["fed_learn_port"], server["admin_port"]) == (8012, 8013)
    fed_server = read_json(kit(tmp_path / "ws", "server1", "startup", "fed_server.json"))["servers"][0]
    assert fed_server["admin_port"] == 8013
    assert fed_server["service"]["target"].endswith(":8012"), fed_server["service"]
    assert read_json(kit(tmp_path / "ws", "site-1", "local", "relay__resources.json"))["relay_config"][
        "address"] == "10.0.0.5:8102"
    assert read_json(kit(tmp_path / "ws", "site-2", "startup", "fed_client.json"))["servers"][0]["service"][
        "target"] == "server1:8012"
    assert run_module(main, args)["changed"] is False
    parts[0]["admin_port"] = "80x3"
    pf.write_text(yaml.safe_dump({"api_version": 3, "name": PROJECT, "participants": parts}))
    bad = run_module(main, args)
    assert bad["failed"] is True and "participants[0].admin_port" in bad["msg"] and "'80x3'" in bad["msg"], bad
