# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""edgefl.nvflare.provision with REAL NVFLARE provisioning into temporary workspaces."""

from __future__ import annotations

import copy
import json
import os
import stat
import subprocess
import sys

import pytest
import yaml

from conftest import COLLECTIONS, warnings_of
from provision_files import PROJECT, cert_state, kit, kit_files, project_dir, read, spec
from tree_snapshot import snapshot_without_lock

from ansible_collections.edgefl.nvflare.plugins.modules.provision import main


snapshot = snapshot_without_lock


@pytest.fixture
def provisioned(tmp_path, run_module):
    ws = tmp_path / "ws"
    result = run_module(main, spec(ws))
    assert result["changed"] is True, result
    return ws, result


# ---------------------------------------------------------------- first run, idempotence


def test_first_run_builds_every_kit(provisioned):
    ws, result = provisioned
    assert sorted(result["added"]) == ["admin@nvidia.com", "server1", "site-1", "site-2"]
    assert result["result_dir"] == os.path.join(project_dir(ws), "prod_00")
    assert result["nvflare_version"] == "2.9.0"
    for name, path in result["kits"].items():
        assert path == kit(ws, name)
        assert os.path.isfile(os.path.join(path, "startup", "rootCA.pem"))
    assert os.path.isfile(kit(ws, "server1", "startup", "fed_server.json"))
    fed_server = json.loads(read(kit(ws, "server1", "startup", "fed_server.json")))
    assert fed_server["servers"][0]["admin_port"] == 8003
    assert fed_server["servers"][0]["service"]["target"] == "server1:8002"
    assert os.path.isfile(kit(ws, "site-1", "startup", "client.key"))
    assert os.path.isfile(kit(ws, "admin@nvidia.com", "startup", "fed_admin.json"))
    server = result["participants"][0]
    assert server == {"name": "server1", "type": "server", "org": "nvidia", "fed_learn_port": 8002,
                      "admin_port": 8003, "host_names": ["10.0.0.1"]}


def test_second_run_changes_nothing(provisioned, run_module):
    ws, first = provisioned
    before = snapshot(str(ws))
    again = run_module(main, spec(ws))
    assert again["changed"] is False
    assert again["added"] == again["removed"] == again["changed_participants"] == []
    assert again["reasons"] == {}
    assert again["kits"] == first["kits"]
    assert again["result_dir"] == first["result_dir"]
    # nothing rewritten: same bytes, modes and mtimes; no new prod_NN
    assert snapshot(str(ws)) == before
    assert not os.path.exists(os.path.join(project_dir(ws), "prod_01"))


def test_check_mode_on_fresh_workspace_writes_nothing(tmp_path, run_module):
    ws = tmp_path / "ws"
    result = run_module(main, spec(ws), check_mode=True, diff=True)
    assert result["changed"] is True
    assert sorted(result["added"]) == ["admin@nvidia.com", "server1", "site-1", "site-2"]
    assert result["result_dir"] == os.path.join(project_dir(ws), "prod_00")
    assert not os.path.exists(str(ws))
    assert result["diff"]["before"] == ""
    assert "client site-1 org=nvidia" in result["diff"]["after"]


def test_four_step_idempotence(tmp_path, run_module):
    ws = tmp_path / "ws"
    steps = [run_module(main, spec(ws), check_mode=cm) for cm in (True, False, True, False)]
    assert [s["changed"] for s in steps] == [True, True, False, False]


def test_check_mode_on_existing_workspace_reports_and_writes_nothing(provisioned, run_module):
    ws = provisioned[0]
    before = snapshot(str(ws))
    result = run_module(main, spec(ws, clients=("site-2", "site-3")), check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["added"] == ["site-3"]
    assert result["removed"] == ["site-1"]
    assert result["changed_participants"] == []
    assert result["result_dir"] == os.path.join(project_dir(ws), "prod_01")
    assert "site-1" in result["diff"]["before"] and "site-1" not in result["diff"]["after"]
    assert "site-3" in result["diff"]["after"]
    assert snapshot(str(ws)) == before


# ---------------------------------------------------------------- add / remove / change


def test_add_client_generates_only_its_key_and_kit(provisioned, run_module):
    ws = provisioned[0]
    old_names = ["server1", "site-1", "site-2", "admin@nvidia.com"]
    certs_before = cert_state(ws)
    kits_before = kit_files(ws, old_names)
    result = run_module(main, spec(ws, clients=("site-1", "site-2", "site-3")))
    assert result["changed"] is True
    assert result["added"] == ["site-3"]
    assert result["changed_participants"] == [] and result["regenerated_keys"] == []
    assert result["reasons"] == {"site-3": "added"}
    assert result["result_dir"] == os.path.join(project_dir(ws), "prod_01")
    certs_after = cert_state(ws)
    # root CA and every earlier certificate and key byte-identical; exactly one new subject
    for key, value in certs_before.items():
        assert certs_after[key] == value, key
    assert sorted(set(certs_after) - set(certs_before)) == ["site-3"]
    assert kit_files(ws, old_names) == kits_before
    for name in old_names:
        assert os.readlink(kit(ws, name)) == os.path.join("..", "prod_00", name)
    assert os.readlink(kit(ws, "site-3")) == os.path.join("..", "prod_01", "site-3")
    # the new prod_NN holds only the new kit (no extra copy of the server key)
    assert os.listdir(os.path.join(project_dir(ws), "prod_01")) == ["site-3"]
    assert read(kit(ws, "site-3", "startup", "rootCA.pem")) == read(kit(ws, "site-1", "startup", "rootCA.pem"))


def test_add_admin_generates_only_its_kit(provisioned, run_module):
    ws = provisioned[0]
    before = kit_files(ws, ["server1", "site-1", "site-2", "admin@nvidia.com"])
    args = spec(ws)
    args["admins"].append({"name": "lead@nvidia.com", "role": "lead"})
    result = run_module(main, args)
    assert result["added"] == ["lead@nvidia.com"]
    assert kit_files(ws, ["server1", "site-1", "site-2", "admin@nvidia.com"]) == before


def test_remove_client_keeps_everything_else(provisioned, run_module):
    ws = provisioned[0]
    keep = ["server1", "site-1", "admin@nvidia.com"]
    before = kit_files(ws, keep)
    result = run_module(main, spec(ws, clients=("site-1",)))
    assert result["changed"] is True
    assert result["removed"] == ["site-2"] and result["removed_all"] == ["site-2"]
    assert "site-2" not in result["kits"] and "site-2" not in result["certificates"]
    assert not os.path.lexists(kit(ws, "site-2"))
    old = os.path.join(project_dir(ws), "prod_00", "site-2", "startup")
    assert os.path.isfile(os.path.join(old, "client.crt"))  # old public files kept
    assert not os.path.exists(os.path.join(old, "client.key"))  # its private key is gone
    assert "site-2" not in cert_state(ws)
    assert kit_files(ws, keep) == before
    assert not os.path.exists(os.path.join(project_dir(ws), "prod_01"))  # nothing rebuilt
    again = run_module(main, spec(ws, clients=("site-1",)))
    assert again["changed"] is False and again["removed"] == [] and again["removed_all"] == ["site-2"]


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"server": {"name": "server1", "host_names": ["10.0.0.1"], "fed_learn_port": 9002}},
         "server.fed_learn_port"),
        ({"server": {"name": "server1", "host_names": ["10.0.0.1"], "admin_port": 9003}}, "server.admin_port"),
        ({"connection_security": "tls"}, "server.connection_security"),
        ({"server": {"name": "server1", "host_names": ["10.0.0.1"], "default_host": "fl.example.com"}},
         "server.default_host"),
    ],
)
def test_global_change_rebuilds_every_kit_and_keeps_keys(provisioned, run_module, change, reason):
    ws = provisioned[0]
    certs_before = cert_state(ws)
    result = run_module(main, spec(ws, **change), diff=True)
    assert result["changed"] is True
    assert sorted(result["changed_participants"]) == ["admin@nvidia.com", "server1", "site-1", "site-2"]
    assert all(reason in why for why in result["reasons"].values()), result["reasons"]
    assert any(reason in w and "all 4 kits were rebuilt" in w for w in warnings_of(result)), warnings_of(result)
    certs_after = cert_state(ws)
    assert certs_after["root_cert"] == certs_before["root_cert"]
    assert certs_after["root_pri_key"] == certs_before["root_pri_key"]
    for name in ("site-1", "site-2", "admin@nvidia.com"):
        assert certs_after[name] == certs_before[name]
    for name in result["kits"]:
        assert os.readlink(kit(ws, name)) == os.path.join("..", "prod_01", name)
    assert run_module(main, spec(ws, **change))["changed"] is False


def test_port_change_reaches_client_kits(provisioned, run_module):
    ws = provisioned[0]
    run_module(main, spec(ws, server={"name": "server1", "host_names": ["10.0.0.1"], "fed_learn_port": 9002}))
    fed_client = json.loads(read(kit(ws, "site-1", "startup", "fed_client.json")))
    assert fed_client["servers"][0]["service"]["target"] == "server1:9002"


def test_server_host_names_change_regenerates_only_the_server_cert(provisioned, run_module):
    ws = provisioned[0]
    before = cert_state(ws)
    result = run_module(main, spec(ws, server={"name": "server1", "host_names": ["10.0.0.2", "fl.example.com"]}))
    assert result["regenerated_keys"] == ["server1"]
    assert result["changed_participants"] == ["server1"]
    assert warnings_of(result) == ["certificate content changed for server1: new key pairs were generated"]
    for name in ("site-1", "site-2", "admin@nvidia.com"):
        assert os.readlink(kit(ws, name)) == os.path.join("..", "prod_00", name)
    after = cert_state(ws)
    assert after["server1"]["pri_key"] != before["server1"]["pri_key"]
    assert after["root_pri_key"] == before["root_pri_key"]
    for name in ("site-1", "site-2", "admin@nvidia.com"):
        assert after[name] == before[name]
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(read(kit(ws, "server1", "startup", "server.crt")))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "fl.example.com" in san.get_values_for_type(x509.DNSName)


def test_client_org_change_regenerates_its_key_only(provisioned, run_module):
    ws = provisioned[0]
    before = cert_state(ws)
    args = spec(ws)
    args["clients"][0]["org"] = "lab_b"
    result = run_module(main, args)
    assert result["changed_participants"] == ["site-1"] and result["regenerated_keys"] == ["site-1"]
    after = cert_state(ws)
    assert after["site-1"]["pri_key"] != before["site-1"]["pri_key"]
    assert after["site-2"] == before["site-2"]
    assert os.listdir(os.path.join(project_dir(ws), "prod_01")) == ["site-1"]


def test_admin_role_change_regenerates_its_key(provisioned, run_module):
    ws = provisioned[0]
    args = spec(ws)
    args["admins"][0]["role"] = "lead"
    result = run_module(main, args)
    assert result["regenerated_keys"] == ["admin@nvidia.com"]
    assert run_module(main, args)["changed"] is False


def test_missing_kit_is_rebuilt(provisioned, run_module):
    ws = provisioned[0]
    os.unlink(kit(ws, "site-2"))
    result = run_module(main, spec(ws))
    assert result["changed_participants"] == ["site-2"]
    assert "kit missing" in result["reasons"]["site-2"]
    assert os.path.isfile(kit(ws, "site-2", "startup", "client.key"))


def test_force_rebuilds_every_kit_with_the_same_keys(provisioned, run_module):
    ws = provisioned[0]
    before = cert_state(ws)
    result = run_module(main, spec(ws, force=True))
    assert result["changed"] is True
    assert result["result_dir"].endswith("prod_01")
    assert sorted(result["changed_participants"]) == sorted(result["kits"])
    assert cert_state(ws) == before


# ---------------------------------------------------------------- security


def test_file_modes(provisioned):
    ws = provisioned[0]
    pdir = project_dir(ws)
    assert stat.S_IMODE(os.stat(pdir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(pdir, "state")).st_mode) == 0o700
    for fn in os.listdir(os.path.join(pdir, "state")):
        assert stat.S_IMODE(os.stat(os.path.join(pdir, "state", fn)).st_mode) == 0o600, fn
    keys = []
    for dirpath, _dirs, files in os.walk(pdir):
        keys += [os.path.join(dirpath, f) for f in files if f.endswith(".key")]
    assert len(keys) == 4
    for k in keys:
        assert stat.S_IMODE(os.stat(k).st_mode) == 0o600, k


def test_loosened_state_modes_are_locked_again(provisioned, run_module):
    ws = provisioned[0]
    cert_json = os.path.join(project_dir(ws), "state", "cert.json")
    os.chmod(cert_json, 0o644)
    check = run_module(main, spec(ws), check_mode=True)
    assert check["changed"] is True
    assert stat.S_IMODE(os.stat(cert_json).st_mode) == 0o644
    fixed = run_module(main, spec(ws))
    assert fixed["changed"] is True and fixed["reasons"] == {}
    assert stat.S_IMODE(os.stat(cert_json).st_mode) == 0o600


def test_no_key_material_in_results(tmp_path, run_module):
    ws = tmp_path / "ws"
    results = [run_module(main, spec(ws), diff=True)]
    results.append(run_module(main, spec(ws, clients=("site-1", "site-3")), diff=True, check_mode=True))
    results.append(run_module(main, spec(ws, clients=("site-1", "site-3")), diff=True))
    certs = cert_state(ws)
    secrets = [certs["root_pri_key"]] + [v["pri_key"] for v in certs.values() if isinstance(v, dict)]
    for result in results:
        text = json.dumps(result)
        assert "PRIVATE KEY" not in text and "BEGIN" not in text
        for secret in secrets:
            body = secret.splitlines()[1]
            assert body not in text


# ---------------------------------------------------------------- project.yml input


BUILDERS = [
    {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder"},
    {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {"config_folder": "config"}},
    {"path": "nvflare.lighter.impl.cert.CertBuilder"},
    {"path": "nvflare.lighter.impl.signature.SignatureBuilder"},
]


def write_project(path, participants, builders=True, **extra):
    data = {"api_version": 3, "name": PROJECT, "description": "test", "participants": participants}
    if builders:
        data["builders"] = copy.deepcopy(BUILDERS)
    data.update(extra)
    path.write_text(yaml.safe_dump(data))
    return str(path)


SERVER = {"name": "server1", "type": "server", "org": "nvidia", "fed_learn_port": 8002, "admin_port": 8003}


def test_project_file(tmp_path, run_module):
    pf = write_project(tmp_path / "project.yml", [
        SERVER, {"name": "site-1", "type": "client", "org": "nvidia"},
        {"name": "admin@nvidia.com", "type": "admin", "org": "nvidia", "role": "project_admin"}])
    args = {"workspace": str(tmp_path / "ws"), "project_file": pf}
    first = run_module(main, args)
    assert first["changed"] is True and sorted(first["kits"]) == ["admin@nvidia.com", "server1", "site-1"]
    assert run_module(main, args)["changed"] is False


def test_project_file_with_one_host_name_as_a_string(tmp_path, run_module):
    """NVFLARE 2.6+ reads a server's host_names given as one string; it was checked character by character."""
    from cryptography import x509

    pf = write_project(tmp_path / "project.yml", [
        dict(SERVER, host_names="fl2.example.com"), {"name": "site-1", "type": "client", "org": "nvidia"}])
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": pf})
    assert result["changed"] is True, result.get("msg")
    cert = x509.load_pem_x509_certificate(read(os.path.join(result["kits"]["server1"], "startup", "server.crt")))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert "fl2.example.com" in names, names


def _with_builders(path, builders):
    data = yaml.safe_load(path.read_text())
    data["builders"] = builders
    path.write_text(yaml.safe_dump(data))
    return str(path)


SHARED_SECRET_BUILDER = """
import os

from nvflare.lighter.spec import Builder


class SharedSecretBuilder(Builder):
    \"\"\"Like NVFLARE's HEBuilder: one new secret per provisioning run, written into every kit.\"\"\"

    def initialize(self, project, ctx):
        self.secret = os.urandom(16).hex()

    def build(self, project, ctx):
        for p in [project.get_server()] + project.get_clients():
            with open(os.path.join(ctx.get_kit_dir(p), "shared_secret.txt"), "w") as f:
                f.write(self.secret)
"""


def test_a_builder_that_shares_a_secret_between_kits_rebuilds_every_kit(tmp_path, run_module, monkeypatch):
    """A builder outside NVFLARE's per-kit ones (HEBuilder's TenSEAL context, here a real builder class of the same
    kind) may write one new secret into every kit per run: adding a client builds every kit again, as NVFLARE's own
    provisioning does, so all kits keep sharing it. Built alone, the new client had a secret no one else had."""
    (tmp_path / "edgefl_test_builders.py").write_text(SHARED_SECRET_BUILDER)
    monkeypatch.syspath_prepend(str(tmp_path))
    builders = [
        {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder"},
        {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {"config_folder": "config"}},
        {"path": "edgefl_test_builders.SharedSecretBuilder"},
        {"path": "nvflare.lighter.impl.cert.CertBuilder"},
        {"path": "nvflare.lighter.impl.signature.SignatureBuilder"},
    ]
    clients = [{"name": "site-1", "type": "client", "org": "nvidia"}]
    pf = tmp_path / "project.yml"

    def project(parts):
        return write_project(pf, parts, builders=False) and _with_builders(pf, builders)

    args = {"workspace": str(tmp_path / "ws"), "project_file": project([SERVER] + clients)}

    def secrets(result):
        return dict((n, read(os.path.join(result["kits"][n], "startup", "shared_secret.txt")))
                    for n in ("server1", "site-1", "site-2") if n in result["kits"])

    first = run_module(main, args)
    assert first["changed"] is True, first.get("msg")
    assert len(set(secrets(first).values())) == 1
    assert run_module(main, args)["changed"] is False
    project([SERVER] + clients + [{"name": "site-2", "type": "client", "org": "nvidia"}])
    added = run_module(main, args)
    assert added["changed"] is True, added.get("msg")
    found = secrets(added)
    assert sorted(found) == ["server1", "site-1", "site-2"] and len(set(found.values())) == 1, found


def test_a_role_of_the_sites_own_is_provisioned_with_a_warning(tmp_path, run_module):
    """NVFLARE provisions any simple name as an admin's role (it warns): a site's local/authorization.json may grant
    it rights. It was refused."""
    pf = write_project(tmp_path / "project.yml", [
        SERVER, {"name": "site-1", "type": "client", "org": "nvidia"},
        {"name": "ds@nvidia.com", "type": "admin", "org": "nvidia", "role": "data_scientist"}])
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": pf})
    assert result["changed"] is True and "ds@nvidia.com" in result["kits"], result.get("msg")
    assert ("admin 'ds@nvidia.com' has the role 'data_scientist', none of NVFLARE's own (project_admin, org_admin, "
            "lead, member): NVFLARE's default authorization policy gives it no rights; grant them in each site's "
            "local/authorization.json") in warnings_of(result)


def test_an_include_is_read_as_nvflare_provision_reads_it(tmp_path, run_module):
    """nvflare provision merges include: entries (nvflare.lighter.utils.load_yaml); the module read the file with
    plain YAML: participants in an included file were "no participants list", included builders fell back to the
    sample list, and an include in the server entry lost its default_host and host_names."""
    from cryptography import x509

    (tmp_path / "clients.yml").write_text(yaml.safe_dump({"participants": [
        dict(SERVER, include="server_props.yml"), {"name": "site-1", "type": "client", "org": "nvidia"}]}))
    (tmp_path / "server_props.yml").write_text(yaml.safe_dump({"default_host": "fl.example.com",
                                                               "host_names": ["fl.example.com", "10.0.0.5"]}))
    (tmp_path / "builders.yml").write_text(yaml.safe_dump({"builders": [
        {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder"},
        {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {"config_folder": "config"}},
        {"path": "nvflare.lighter.impl.cert.CertBuilder", "args": {"root_valid_days": 730}},
        {"path": "nvflare.lighter.impl.signature.SignatureBuilder"}]}))
    pf = tmp_path / "project.yml"
    pf.write_text("api_version: 3\nname: %s\ndescription: test\ninclude: [clients.yml, builders.yml]\n" % PROJECT)
    args = {"workspace": str(tmp_path / "ws"), "project_file": str(pf)}
    first = run_module(main, args)
    assert first["changed"] is True and sorted(first["kits"]) == ["server1", "site-1"], first.get("msg")
    server = x509.load_pem_x509_certificate(read(os.path.join(first["kits"]["server1"], "startup", "server.crt")))
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "fl.example.com" in names.get_values_for_type(x509.DNSName), names
    client = json.loads(read(os.path.join(first["kits"]["site-1"], "startup", "fed_client.json")))
    assert "fl.example.com:8002" in json.dumps(client), client
    root = x509.load_pem_x509_certificate(read(os.path.join(first["kits"]["site-1"], "startup", "rootCA.pem")))
    assert (root.not_valid_after_utc - root.not_valid_before_utc).days == 730
    assert run_module(main, args)["changed"] is False
    # an included file is part of the project: a change there rebuilds what it concerns
    (tmp_path / "server_props.yml").write_text(yaml.safe_dump({"default_host": "fl2.example.com",
                                                               "host_names": ["fl2.example.com"]}))
    again = run_module(main, args)
    assert again["changed"] is True and "site-1" in again["reasons"], again.get("msg")


@pytest.mark.parametrize("include, said", [
    ("missing.yml", "cannot read a file %s includes"),
    ("../outside.yml", "NVFLARE cannot read the include of %s (include path escapes root"),
])
def test_an_include_nvflare_cannot_read_is_refused_before_writing(tmp_path, run_module, include, said):
    (tmp_path / "outside.yml").write_text("participants: []\n")
    (tmp_path / "p").mkdir()
    pf = tmp_path / "p" / "project.yml"
    write_project(pf, [SERVER], include=include)
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": str(pf)})
    assert result.get("failed") is True and result["field"] == "project_file", result
    assert said % pf in result["msg"], result["msg"]
    assert not (tmp_path / "ws").exists()


def test_a_docker_builder_project_builds_every_kit_for_an_added_client(tmp_path, run_module):
    """NVFLARE's DockerBuilder writes one compose.yaml of every participant: a client added alone got one with only
    itself and the server."""
    pf = tmp_path / "project.yml"
    builders = BUILDERS + [{"path": "nvflare.lighter.impl.docker.DockerBuilder"}]
    clients = [{"name": "site-1", "type": "client", "org": "nvidia"}]
    write_project(pf, [SERVER] + clients)
    args = {"workspace": str(tmp_path / "ws"), "project_file": _with_builders(pf, builders)}
    first = run_module(main, args)
    assert first["changed"] is True, first.get("msg")
    write_project(pf, [SERVER] + clients + [{"name": "site-2", "type": "client", "org": "nvidia"}])
    _with_builders(pf, builders)
    added = run_module(main, args)
    assert added["changed"] is True, added.get("msg")
    compose = yaml.safe_load(read(os.path.join(added["result_dir"], "compose.yaml")))
    assert sorted(compose["services"]) == ["server1", "site-1", "site-2"], compose["services"]
    for service in compose["services"].values():
        volume = service["volumes"][0].split(":")[0]
        assert os.path.isdir(os.path.join(added["result_dir"], volume)), volume


def test_relays_without_default_host_both_on_localhost_are_refused(tmp_path, run_module):
    """NVFLARE writes localhost for a relay without default_host into the kits that connect to it: two such relays
    on one port are one listener."""
    relays = [{"name": n, "type": "relay", "org": "nvidia", "listening_host": {"port": 8102}}
              for n in ("relay-1", "relay-2")]
    pf = write_project(tmp_path / "project.yml", [SERVER] + relays + [
        {"name": "site-1", "type": "client", "org": "nvidia", "connect_to": {"name": "relay-1"}}])
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": pf})
    assert result.get("failed") is True, result
    assert result["msg"].startswith("participants[2].listening_host.port: relays 'relay-1' and 'relay-2' both listen "
                                    "on localhost:8102"), result["msg"]
    # a relay without a port: NVFLARE writes port 0 into the kits behind it
    del relays[1]["listening_host"]["port"]
    pf = write_project(tmp_path / "project.yml", [SERVER] + relays)
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": pf})
    assert result.get("failed") is True and result["msg"].startswith(
        "participants[2].listening_host.port: relay 'relay-2' has no port to listen on"), result["msg"]


def test_a_builder_whose_package_is_missing_says_which(tmp_path, run_module):
    pf = tmp_path / "project.yml"
    write_project(pf, [SERVER], builders=False)
    pf = _with_builders(pf, [{"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder"},
                             {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder"},
                             {"path": "nvflare.lighter.impl.he.HEBuilder"}, {"path": "nvflare.lighter.impl.cert.CertBuilder"}])
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": pf})
    assert result.get("failed") and "it needs the Python package 'tenseal'" in result["msg"], result["msg"]


@pytest.mark.parametrize("builders, said", [
    # a mapping where the list belongs: it was "has no CertBuilder", though the mapping is one
    ({"path": "nvflare.lighter.impl.cert.CertBuilder"}, "has 'builders' as a mapping; it is a list of {path, args}"),
    ([{"path": "nvflare.lighter.impl.static_file.StaticFileBuilder"}, {"path": "nvflare.lighter.impl.cert.CertBuilder"}],
     "has no WorkspaceBuilder among its builders: NVFLARE's WorkspaceBuilder makes every kit's folders"),
    # kits without fed_*.json or start.sh, provisioned without a word
    ([{"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder"}, {"path": "nvflare.lighter.impl.cert.CertBuilder"}],
     "has no StaticFileBuilder among its builders: NVFLARE's StaticFileBuilder writes every kit's fed_*.json"),
    # StaticFileBuilder(**kwargs) of 2.7 and later dropped a misspelt config_folder: every sub_start.sh got none
    ([{"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder"},
      {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder",
       "args": {"config_foldr": "config", "snapshot_persistor": {}}},
      {"path": "nvflare.lighter.impl.cert.CertBuilder"}],
     "builders[1].path: 'nvflare.lighter.impl.static_file.StaticFileBuilder': nvflare 2.9.0's StaticFileBuilder has "
     "no argument 'config_foldr', 'snapshot_persistor' and would drop it without a word"),
])
def test_a_builder_list_that_cannot_build_usable_kits_is_refused(tmp_path, run_module, builders, said):
    pf = tmp_path / "project.yml"
    write_project(pf, [SERVER, {"name": "site-1", "type": "client", "org": "nvidia"}], builders=False)
    pf = _with_builders(pf, builders)
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": pf})
    assert result.get("failed") and said in result["msg"], result["msg"]
    assert not os.path.exists(str(tmp_path / "ws"))


def test_an_overseer_agent_of_an_older_project_file_is_no_dropped_argument(tmp_path, run_module):
    """NVFLARE 2.7 and later ignore StaticFileBuilder's overseer_agent of a 2.6 or earlier project.yml: accepted."""
    pf = tmp_path / "project.yml"
    write_project(pf, [SERVER, {"name": "site-1", "type": "client", "org": "nvidia"}], builders=False)
    pf = _with_builders(pf, [
        {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder", "args": {"template_file": "master_template.yml"}},
        {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {
            "config_folder": "config", "overseer_agent": {
                "path": "nvflare.ha.dummy_overseer_agent.DummyOverseerAgent", "overseer_exists": False,
                "args": {"sp_end_point": "server1:8002:8003"}}}},
        {"path": "nvflare.lighter.impl.cert.CertBuilder"}])
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": pf})
    assert result["changed"] is True, result.get("msg")


def test_a_project_file_without_certbuilder_is_refused_before_writing(tmp_path, run_module):
    pf = tmp_path / "project.yml"
    write_project(pf, [SERVER, {"name": "site-1", "type": "client", "org": "nvidia"}], builders=False)
    pf = _with_builders(pf, [{"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder"},
                             {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder"}])
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": pf})
    assert result.get("failed") and "has no CertBuilder among its builders" in result["msg"], result["msg"]
    assert not os.path.exists(str(tmp_path / "ws"))


def test_nvflares_own_warnings_reach_the_output(tmp_path, run_module):
    """NVFLARE warns of a scheme it does not know and of a connect_to host the server's certificate does not name,
    and provisions; those warnings were dropped."""
    pf = tmp_path / "project.yml"
    write_project(pf, [dict(SERVER, host_names=["fl.example.com"]),
                       {"name": "site-1", "type": "client", "org": "nvidia", "connect_to": {"host": "typo.example.com"}}],
                  builders=False)
    pf = _with_builders(pf, [
        {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder"},
        {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {"config_folder": "config", "scheme": "grpcs"}},
        {"path": "nvflare.lighter.impl.cert.CertBuilder"},
        {"path": "nvflare.lighter.impl.signature.SignatureBuilder"}])
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": pf})
    assert result["changed"] is True, result.get("msg")
    said = " ".join(warnings_of(result))
    assert "NVFLARE's provisioning warns: WARNING: grpcs is not a builtin scheme" in said, said
    assert "connect_to.host 'typo.example.com' in site-1 may be invalid" in said, said


def test_project_file_without_admin_port_gets_8003(tmp_path, run_module):
    server = {"name": "server1", "type": "server", "org": "nvidia"}
    pf = write_project(tmp_path / "project.yml", [server, {"name": "site-1", "type": "client", "org": "nvidia"}],
                       builders=False)
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": pf})
    assert result["participants"][0]["admin_port"] == 8003
    fed_server = json.loads(read(os.path.join(result["kits"]["server1"], "startup", "fed_server.json")))
    assert fed_server["servers"][0]["admin_port"] == 8003


def test_shared_port_when_both_set_explicitly(tmp_path, run_module):
    args = spec(tmp_path / "ws", server={"name": "server1", "fed_learn_port": 8002, "admin_port": 8002})
    result = run_module(main, args)
    assert result["changed"] is True and result["participants"][0]["admin_port"] == 8002


def test_swallowed_builder_error_is_reported(tmp_path, run_module):
    # NVFLARE's Provisioner catches builder exceptions, deletes prod_NN and only sets a flag
    pf = write_project(tmp_path / "project.yml", [
        SERVER, {"name": "site-1", "type": "client", "org": "nvidia", "parent": "no-such-site"}])
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": pf})
    assert result.get("failed") is True
    assert "undefined parent client 'no-such-site'" in result["msg"]
    # the failed first run leaves no workspace behind (no lock file, no staging copy)
    assert not os.path.exists(str(tmp_path / "ws"))


def test_cross_kit_project_rebuilds_all_kits_on_change(tmp_path, run_module):
    parts = [SERVER, {"name": "site-1", "type": "client", "org": "nvidia"},
             {"name": "site-2", "type": "client", "org": "nvidia", "parent": "site-1"}]
    pf = write_project(tmp_path / "project.yml", parts)
    args = {"workspace": str(tmp_path / "ws"), "project_file": pf}
    run_module(main, args)
    write_project(tmp_path / "project.yml", parts + [{"name": "site-3", "type": "client", "org": "nvidia"}])
    result = run_module(main, args)
    assert result["added"] == ["site-3"]
    assert sorted(os.listdir(os.path.join(str(tmp_path / "ws"), PROJECT, "prod_01"))) == [
        "server1", "site-1", "site-2", "site-3"]


# ---------------------------------------------------------------- bad input: clear error, nothing written


def _mut(path, value):
    def apply(args):
        target = args
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return args
    return apply


_DELETE = object()

BAD_OPTIONS = [
    ("duplicate-client", _mut(["clients"], [{"name": "a"}, {"name": "a"}]), "clients[1].name", "unique"),
    ("client-named-like-server", _mut(["clients"], [{"name": "server1"}]), "clients[0].name", "unique"),
    ("duplicate-admin", _mut(["admins"], [{"name": "a@b.com"}, {"name": "a@b.com"}]), "admins[1].name", "unique"),
    ("no-server", _mut(["server"], _DELETE), "server", "exactly one server"),
    ("client-name-nvflare-rejects", _mut(["clients"], [{"name": "site 1"}]), "clients[0].name", "NVFLARE rejects"),
    ("server-name-nvflare-rejects", _mut(["server", "name"], "server_1"), "server.name", "NVFLARE rejects"),
    ("admin-name-not-email", _mut(["admins"], [{"name": "admin"}]), "admins[0].name", "e-mail"),
    # a certificate's common name holds 64 characters
    ("client-name-too-long", _mut(["clients"], [{"name": "s" * 65}]), "clients[0].name", "at most 64 characters"),
    ("server-name-too-long", _mut(["server", "name"], "fl." + "b" * 62), "server.name", "default_host in a project"),
    ("admin-name-too-long", _mut(["admins"], [{"name": "a" * 60 + "@b.com"}]), "admins[0].name", "66 characters long"),
    ("org-nvflare-rejects", _mut(["clients"], [{"name": "s1", "org": "my-org"}]), "clients[0].org", "NVFLARE rejects"),
    ("port-zero", _mut(["server", "fed_learn_port"], 0), "server.fed_learn_port", "1-65535"),
    ("port-too-big", _mut(["server", "admin_port"], 70000), "server.admin_port", "1-65535"),
    ("shared-port-implicit", _mut(["server", "fed_learn_port"], 8003), "server.admin_port", "explicitly"),
    ("shared-port-implicit-admin", _mut(["server", "admin_port"], 8002), "server.admin_port", "explicitly"),
    ("unknown-role", _mut(["admins"], [{"name": "a@b.com", "role": "lead-dev"}]), "role", "project_admin"),
    ("invalid-ip", _mut(["server", "host_names"], ["10.0.0.300"]), "server.host_names[0]", "not a valid IP"),
    ("invalid-ipv6", _mut(["server", "host_names"], ["fe80::zz"]), "server.host_names[0]", "not a valid IP"),
    ("invalid-host-name", _mut(["server", "host_names"], ["bad_host!"]), "server.host_names[0]", "host name"),
    # written as a URL, with the port, in brackets: the message says what to drop
    ("url-address", _mut(["server", "host_names"], ["https://fl.example.com:8443/"]), "server.host_names[0]",
     "without a URL scheme, path or port (fl.example.com)"),
    ("address-with-port", _mut(["clients"], [{"name": "s1", "host": "192.0.2.10:8002"}]), "clients[0].host",
     "without a port (192.0.2.10): the server's ports are settings of their own"),
    ("bracketed-ipv6", _mut(["server", "host_names"], ["[2001:db8::10]"]), "server.host_names[0]",
     "IPv6 address without brackets (2001:db8::10)"),
    ("invalid-default-host", _mut(["server", "default_host"], "-x.example"), "server.default_host", "host name"),
    ("invalid-client-host", _mut(["clients"], [{"name": "s1", "host": "1.2.3"}]), "clients[0].host", "valid IP"),
    ("bad-project-name", _mut(["project_name"], "my project"), "project_name", "project name"),
    ("other-nvflare-version", _mut(["nvflare_version"], "9.9.9"), "nvflare_version", "pip install nvflare==9.9.9"),
    ("cert-validity-zero", _mut(["cert_validity_days"], 0), "cert_validity_days", "positive"),
]


@pytest.mark.parametrize("case, mutate, field, text", BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS])
def test_bad_input_on_fresh_workspace(tmp_path, run_module, case, mutate, field, text):
    ws = tmp_path / "ws"
    result = run_module(main, mutate(spec(ws)))
    assert result.get("failed") is True, result
    assert field in result["msg"] and text in result["msg"], result["msg"]
    assert not os.path.exists(str(ws))


@pytest.mark.parametrize("case, mutate, field, text", BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS])
def test_bad_input_on_existing_workspace_writes_nothing(provisioned, run_module, case, mutate, field, text):
    ws = provisioned[0]
    before = snapshot(str(ws))
    result = run_module(main, mutate(spec(ws)))
    assert result.get("failed") is True, result
    assert field in result["msg"]
    assert snapshot(str(ws)) == before


def _days(pem):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pem)
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).days


def test_default_lifetimes(provisioned):
    ws, result = provisioned
    assert _days(read(kit(ws, "site-1", "startup", "rootCA.pem"))) == 3650
    for name, crt in (("server1", "server.crt"), ("site-1", "client.crt"), ("admin@nvidia.com", "client.crt")):
        assert _days(read(kit(ws, name, "startup", crt))) == 365


def test_lifetime_changes_never_rebuild_by_themselves(provisioned, run_module):
    ws = provisioned[0]
    before = snapshot(str(ws))
    result = run_module(main, spec(ws, ca_validity_days=100, cert_validity_days=30))
    assert result["changed"] is False and "failed" not in result
    assert snapshot(str(ws)) == before
    # ...they apply to the next certificate issued
    added = run_module(main, spec(ws, clients=("site-1", "site-2", "site-3"), ca_validity_days=100,
                                  cert_validity_days=30))
    assert added["added"] == ["site-3"]
    assert _days(read(kit(ws, "site-3", "startup", "client.crt"))) == 30
    assert _days(read(kit(ws, "site-3", "startup", "rootCA.pem"))) == 3650  # the root CA stays


def test_lifetimes_for_a_new_root(tmp_path, run_module):
    ws = tmp_path / "ws"
    result = run_module(main, spec(ws, ca_validity_days=20, cert_validity_days=400))
    assert _days(read(os.path.join(result["kits"]["site-1"], "startup", "rootCA.pem"))) == 20
    # a participant certificate never outlives its root CA (NVFLARE's cap, kept)
    assert _days(read(os.path.join(result["kits"]["site-1"], "startup", "client.crt"))) in (19, 20)
    assert result["certificates"]["rootCA"]["days_left"] in (19, 20)
    assert run_module(main, spec(ws, ca_validity_days=20, cert_validity_days=400))["changed"] is False


BAD_PROJECT_FILES = [
    ("two-servers", [SERVER, dict(SERVER, name="server2")], "project_file", "exactly one participant of type server"),
    ("ha-servers", [SERVER, dict(SERVER, name="server2")], "project_file", "found 2 (participants[0], "
     "participants[1]); several servers behind an overseer (the high availability of NVFLARE 2.6 and earlier) are not "
     "supported: keep the one the clients should connect to"),
    ("overseer", [{"name": "overseer.example.com", "type": "overseer", "org": "nvidia", "protocol": "https",
                   "api_root": "/api/v1", "port": 8443}, SERVER], "participants[0].type",
     "'overseer.example.com' is an overseer, the high availability of NVFLARE 2.6 and earlier, which is not supported: "
     "remove this participant and keep one server. On NVFLARE 2.6 and earlier the kits still need an overseer agent "
     "that names that server: give StaticFileBuilder the one NVFLARE's own sample has"),
    ("no-server", [{"name": "site-1", "type": "client", "org": "nvidia"}], "project_file", "found 0"),
    ("unknown-type", [SERVER, {"name": "x", "type": "overlord", "org": "nvidia"}], "participants[1].type", "unknown"),
    ("bad-role", [SERVER, {"name": "a@b.com", "type": "admin", "org": "nvidia", "role": "super"}],
     "participants[1].role", "unknown admin role 'super' (super, of NVFLARE 2.0 and 2.1, is project_admin); use one of "
     "project_admin, org_admin, lead, member, or a role of your own"),
    ("role-in-other-case", [SERVER, {"name": "a@b.com", "type": "admin", "org": "nvidia", "role": "Project_Admin"}],
     "participants[1].role", "(roles are case-sensitive: project_admin)"),
    ("duplicate", [SERVER, {"name": "s", "type": "client", "org": "o"}, {"name": "s", "type": "client", "org": "o"}],
     "participants[2].name", "unique"),
    ("bad-port", [dict(SERVER, fed_learn_port=99999)], "participants[0].fed_learn_port", "1-65535"),
    # NVFLARE 2.1's admins (api_version 3): a list of roles, which 2.2 replaced by one role
    ("roles-list", [SERVER, {"name": "admin@nvidia.com", "type": "admin", "org": "nvidia", "roles": ["super"]}],
     "participants[1].role", "'admin@nvidia.com' has a 'roles' list, the format of NVFLARE 2.0 and 2.1, which 2.2 and "
     "later do not read; give it one 'role': project_admin, org_admin, lead, member (super is project_admin)"),
]


def test_a_project_file_of_nvflare_20_is_named_with_what_to_change(tmp_path, run_module):
    """api_version 2 (NVFLARE 2.0): said first, with every change the file needs, rather than through its first
    admin ("unknown admin role None")."""
    pf = write_project(tmp_path / "project.yml", [
        SERVER, {"name": "admin@nvidia.com", "type": "admin", "org": "nvidia", "roles": ["super"]}], api_version=2)
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": pf})
    assert result.get("failed") is True
    assert result["msg"].startswith("api_version: %s is a project file of NVFLARE 2.0 (api_version 2)" % pf), result
    for change in ("set api_version: 3", "instead of its 'roles' list", "AuthPolicyBuilder, DistributionBuilder and "
                   "HEBuilder"):
        assert change in result["msg"], result["msg"]
    assert not os.path.exists(str(tmp_path / "ws"))


@pytest.mark.parametrize("case, parts, field, text", BAD_PROJECT_FILES, ids=[c[0] for c in BAD_PROJECT_FILES])
def test_bad_project_file(tmp_path, run_module, case, parts, field, text):
    pf = write_project(tmp_path / "project.yml", parts)
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": pf})
    assert result.get("failed") is True
    assert field in result["msg"] and text in result["msg"], result["msg"]
    assert not os.path.exists(str(tmp_path / "ws"))


@pytest.mark.parametrize("content, text", [
    (None, "cannot read"),
    ("participants: [unclosed", "not valid YAML"),
    ("- just\n- a list\n", "not a YAML mapping"),
    ("", "not a YAML mapping"),
])
def test_unreadable_project_file(tmp_path, run_module, content, text):
    pf = tmp_path / "project.yml"
    if content is not None:
        pf.write_text(content)
    result = run_module(main, {"workspace": str(tmp_path / "ws"), "project_file": str(pf)})
    assert result.get("failed") is True
    assert "project_file" in result["msg"] and text in result["msg"], result["msg"]


def _garble(path):
    with open(path, "w") as f:
        f.write("{not json")


@pytest.mark.parametrize("damage, text", [
    (lambda pdir: _garble(os.path.join(pdir, "state", "cert.json")), "cert.json cannot be read"),
    (lambda pdir: os.unlink(os.path.join(pdir, "state", "cert.json")), "cert.json is missing"),
    (lambda pdir: _garble(os.path.join(pdir, "state", "edgefl_provision.json")), "edgefl_provision.json cannot"),
    (lambda pdir: open(os.path.join(pdir, "state", "cert.json"), "w").write('{"site-1": {}}'), "no root CA"),
])
def test_corrupt_workspace_state(provisioned, run_module, damage, text):
    ws = provisioned[0]
    damage(project_dir(ws))
    before = snapshot(str(ws))
    for check_mode in (True, False):
        result = run_module(main, spec(ws), check_mode=check_mode)
        assert result.get("failed") is True
        assert "corrupt" in result["msg"] and text in result["msg"], result["msg"]
        assert result["field"] == "workspace"
    assert snapshot(str(ws)) == before


def test_nvflare_missing(tmp_path):
    """Run the module in a Python that has ansible but no nvflare (no site-packages, only ansible linked in)."""
    import ansible

    libdir = tmp_path / "lib"
    libdir.mkdir()
    os.symlink(os.path.dirname(ansible.__file__), str(libdir / "ansible"))
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": spec(tmp_path / "ws", nvflare_version="2.9.0")}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(libdir), COLLECTIONS]))
    code = "import sys; sys.argv = ['provision', sys.argv[1]]; " \
           "from ansible_collections.edgefl.nvflare.plugins.modules.provision import main; main()"
    proc = subprocess.run([sys.executable, "-S", "-c", code, str(args)], env=env, capture_output=True, text=True,
                          check=False)
    result = json.loads(proc.stdout)
    assert result["failed"] is True
    assert "nvflare is not installed" in result["msg"] and "pip install nvflare==2.9.0" in result["msg"]
    assert not os.path.exists(str(tmp_path / "ws"))


def test_adopts_a_workspace_made_by_the_cli(tmp_path, run_module):
    """A workspace from `nvflare provision` is taken over: its root CA and keys are reused, modes locked."""
    pf = write_project(tmp_path / "project.yml", [
        SERVER, {"name": "site-1", "type": "client", "org": "nvidia"},
        {"name": "admin@nvidia.com", "type": "admin", "org": "nvidia", "role": "project_admin"}])
    ws = tmp_path / "ws"
    cli = os.path.join(os.path.dirname(sys.executable), "nvflare")
    subprocess.run([cli, "provision", "-p", pf, "-w", str(ws)], cwd=str(tmp_path), env=dict(os.environ, HOME=str(tmp_path)),
                   stdin=subprocess.DEVNULL, capture_output=True, check=True)
    cli_key = read(os.path.join(project_dir(ws), "prod_00", "site-1", "startup", "client.key"))
    cli_root = read(os.path.join(project_dir(ws), "prod_00", "site-1", "startup", "rootCA.pem"))
    assert stat.S_IMODE(os.stat(os.path.join(project_dir(ws), "state", "cert.json")).st_mode) != 0o600
    result = run_module(main, {"workspace": str(ws), "project_file": pf})
    assert result["changed"] is True and result["regenerated_keys"] == []
    assert read(kit(ws, "site-1", "startup", "client.key")) == cli_key
    assert read(kit(ws, "site-1", "startup", "rootCA.pem")) == cli_root
    assert stat.S_IMODE(os.stat(os.path.join(project_dir(ws), "state", "cert.json")).st_mode) == 0o600
    assert run_module(main, {"workspace": str(ws), "project_file": pf})["changed"] is False


@pytest.mark.parametrize("check_mode", [False, True], ids=["apply", "check"])
@pytest.mark.parametrize("where, text", [
    ("file/ws", "is not a directory"),
    ("file/deeper/ws", "is not a directory"),
    ("file", "exists and is not a directory"),
], ids=["parent-is-a-file", "ancestor-is-a-file", "workspace-is-a-file"])
def test_unusable_workspace_fails_before_writing(tmp_path, run_module, where, text, check_mode):
    (tmp_path / "file").write_text("not a directory")
    before = snapshot(str(tmp_path))
    ws = tmp_path / where
    result = run_module(main, spec(ws), check_mode=check_mode)
    assert result.get("failed") is True, result
    assert result["field"] == "workspace"
    assert str(ws) in result["msg"] and text in result["msg"], result["msg"]
    assert snapshot(str(tmp_path)) == before


# ---------------------------------------------------------------- prune_kits


def test_prune_kits_deletes_only_the_superseded_prod_dirs(provisioned, run_module):
    """Every renewal, rotation or rebuilt kit leaves a prod_NN of kits no link points at any more, with their old
    private keys. prune_kits deletes those, and nothing a current kit is in; check mode lists them and deletes
    nothing; the next run has nothing to prune."""
    ws, _first = provisioned
    added = run_module(main, spec(ws, clients=("site-1", "site-2", "site-3")))      # prod_01: site-3 only
    assert added["result_dir"].endswith("prod_01")
    renewed = run_module(main, spec(ws, clients=("site-1", "site-2", "site-3"), renew=True))   # prod_02: all
    assert renewed["result_dir"].endswith("prod_02")
    assert run_module(main, spec(ws, clients=("site-1", "site-2", "site-3")))["changed"] is False
    pdir = project_dir(ws)
    assert os.path.isfile(os.path.join(pdir, "prod_00", "site-1", "startup", "client.key"))   # an old private key
    before = snapshot(str(ws))
    checked = run_module(main, spec(ws, clients=("site-1", "site-2", "site-3"), prune_kits=True), check_mode=True)
    assert checked["changed"] is True and checked["pruned"] == ["prod_00", "prod_01"], checked
    assert snapshot(str(ws)) == before
    pruned = run_module(main, spec(ws, clients=("site-1", "site-2", "site-3"), prune_kits=True))
    assert pruned["changed"] is True and pruned["pruned"] == ["prod_00", "prod_01"], pruned
    assert sorted(n for n in os.listdir(pdir) if n.startswith("prod_")) == ["prod_02"]
    for name, path in pruned["kits"].items():
        assert os.path.realpath(path).startswith(os.path.join(os.path.realpath(pdir), "prod_02") + os.sep)
        assert os.path.isfile(os.path.join(path, "startup", "rootCA.pem")), name
    assert os.path.isfile(os.path.join(pdir, "state", "cert.json"))
    again = run_module(main, spec(ws, clients=("site-1", "site-2", "site-3"), prune_kits=True))
    assert again["changed"] is False and again["pruned"] == []
    # without prune_kits nothing is deleted and nothing is said
    assert "pruned" not in run_module(main, spec(ws, clients=("site-1", "site-2", "site-3")))


def test_prune_kits_keeps_a_prod_dir_a_current_kit_is_in(provisioned, run_module):
    """Adding a client builds only its kit (prod_01); the others stay in prod_00, which prune_kits keeps. A removed
    client's kit directory goes once no current kit shares its prod_NN."""
    ws, _first = provisioned
    run_module(main, spec(ws, clients=("site-1", "site-2", "site-3")))
    kept = run_module(main, spec(ws, clients=("site-1", "site-2", "site-3"), prune_kits=True))
    assert kept["changed"] is False and kept["pruned"] == []
    removed = run_module(main, spec(ws, clients=("site-1", "site-2"), remove=["site-3"], prune_kits=True))
    assert removed["removed"] == ["site-3"] and removed["pruned"] == ["prod_01"], removed
    assert sorted(n for n in os.listdir(project_dir(ws)) if n.startswith("prod_")) == ["prod_00"]
