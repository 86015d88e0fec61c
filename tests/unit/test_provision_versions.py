# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the provision module generates and refuses per NVFLARE line (2.4-2.9), without that nvflare.

Real provisioning with each version's own wheel is in tests/versions (scripts/test-versions.sh).
"""

from __future__ import annotations

import os
import stat
import sys

import pytest

from ansible_collections.edgefl.nvflare.plugins.module_utils import _flare_compat as compat
from ansible_collections.edgefl.nvflare.plugins.module_utils._base import ModuleError
from ansible_collections.edgefl.nvflare.plugins.module_utils._provision import installed_nvflare_version
from ansible_collections.edgefl.nvflare.plugins.module_utils._provision_spec import (
    SpecError,
    check_version_support,
    default_builders,
    from_options,
    from_project_file,
    project_file_warnings,
)

# the builder list every 2.9 workspace recorded before versions were supported: it must not change (a change
# rebuilds every kit of every existing federation)
BUILDERS_29 = [
    {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder", "args": {"template_file": ["master_template.yml"]}},
    {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {"config_folder": "config"}},
    {"path": "nvflare.lighter.impl.cert.CertBuilder", "args": {"root_valid_days": 3650}},
    {"path": "nvflare.lighter.impl.signature.SignatureBuilder"},
]


def options(**over):
    params = {"project_name": "fed", "org": "nvidia", "server": {"name": "server1"},
              "clients": [{"name": "site-1"}], "admins": [{"name": "admin@nvidia.com"}]}
    params.update(over)
    return params


def paths(builders):
    return [b["path"].rsplit(".", 1)[1] for b in builders]


def test_default_builders_of_29_unchanged():
    assert default_builders() == BUILDERS_29
    assert default_builders(3650, "2.9.0") == BUILDERS_29
    project, _labels, _hosts = from_options(options(), "2.9.0")
    assert project["builders"] == BUILDERS_29


@pytest.mark.parametrize("version, names, overseer, template", [
    ("2.4.2", ["WorkspaceBuilder", "TemplateBuilder", "StaticFileBuilder", "CertBuilder", "SignatureBuilder"], True,
     "master_template.yml"),
    ("2.5.2", ["WorkspaceBuilder", "TemplateBuilder", "StaticFileBuilder", "CertBuilder", "SignatureBuilder"], True,
     ["master_template.yml"]),
    ("2.6.3", ["WorkspaceBuilder", "StaticFileBuilder", "CertBuilder", "SignatureBuilder"], True,
     ["master_template.yml"]),
    ("2.7.3", ["WorkspaceBuilder", "StaticFileBuilder", "CertBuilder", "SignatureBuilder"], False,
     ["master_template.yml"]),
    ("2.8.3", ["WorkspaceBuilder", "StaticFileBuilder", "CertBuilder", "SignatureBuilder"], False,
     ["master_template.yml"]),
])
def test_builders_follow_each_lines_own_sample(version, names, overseer, template):
    project, _labels, _hosts = from_options(options(server={"name": "fl-server", "fed_learn_port": 9002,
                                                            "admin_port": 9003}), version)
    builders = project["builders"]
    assert paths(builders) == names
    assert builders[0]["args"]["template_file"] == template
    static = [b for b in builders if b["path"].endswith("StaticFileBuilder")][0]
    if overseer:
        agent = static["args"]["overseer_agent"]
        assert agent["path"] == "nvflare.ha.dummy_overseer_agent.DummyOverseerAgent"
        assert agent["overseer_exists"] is False
        assert agent["args"]["sp_end_point"] == "fl-server:9002:9003"
    else:
        assert "overseer_agent" not in static["args"]
    cert = [b for b in builders if b["path"].endswith("CertBuilder")][0]
    assert "args" not in cert  # CertBuilder() takes no argument before 2.9: our lifetimes apply


def test_project_file_without_builders_gets_the_versions_list():
    data = {"api_version": 3, "name": "p", "participants": [
        {"name": "srv", "type": "server", "org": "o", "fed_learn_port": 8002, "admin_port": 8003},
        {"name": "site-1", "type": "client", "org": "o"}]}
    project, _l, _h = from_project_file("project.yml", data, "2.4.2")
    assert "TemplateBuilder" in paths(project["builders"])
    assert project["builders"][2]["args"]["overseer_agent"]["args"]["sp_end_point"] == "srv:8002:8003"


@pytest.mark.parametrize("version, api_version, ok", [
    ("2.4.2", 3, True), ("2.4.2", 4, False), ("2.7.3", 4, False), ("2.8.3", 4, True), ("2.9.0", 4, True),
    (None, 4, True), ("2.6.3", 2, False),
])
def test_api_version_per_line(version, api_version, ok):
    data = {"api_version": api_version, "name": "p", "participants": [
        {"name": "srv", "type": "server", "org": "o"}, {"name": "site-1", "type": "client", "org": "o"}]}
    if ok:
        from_project_file("project.yml", data, version)
        return
    with pytest.raises(SpecError) as exc:
        from_project_file("project.yml", data, version)
    assert exc.value.field == "api_version"
    if api_version < 3:  # NVFLARE 2.0's format, named with what to change (_provision_spec.from_project_file)
        assert "is a project file of NVFLARE 2.0 (api_version 2)" in exc.value.msg and "set api_version: 3" in \
            exc.value.msg
        return
    assert "needs api_version 3, got %r" % api_version in exc.value.msg and "nvflare 2.8 or later" in exc.value.msg


REFUSED = [
    ("2.5.2", dict(relays=[{"name": "relay-1", "port": 8102}]), "relays[0]", "relay participants need nvflare 2.6.0"),
    ("2.4.2", dict(connection_security="mtls"), "server.connection_security", "nvflare 2.4.2 has no connection_security"),
    ("2.5.2", dict(server={"name": "server1", "default_host": "fl.example.com"}), "server.default_host",
     "nvflare 2.5.2 has no default_host"),
    ("2.6.3", dict(server={"name": "server1", "fed_learn_port": 8002, "admin_port": 8002}), "server.admin_port",
     "one shared port needs nvflare 2.7 or later"),
]


@pytest.mark.parametrize("version, over, field, text", REFUSED, ids=[r[2] for r in REFUSED])
def test_what_a_line_cannot_provision_is_refused(version, over, field, text):
    project, labels, _hosts = from_options(options(**over), version)
    with pytest.raises(SpecError) as exc:
        check_version_support(project, labels, version)
    assert exc.value.field == field and text in exc.value.msg and version in exc.value.msg


@pytest.mark.parametrize("version, over", [
    ("2.5.2", dict(connection_security="mtls")),
    ("2.6.3", dict(relays=[{"name": "relay-1", "port": 8102}], server={"name": "server1", "default_host": "fl.x"})),
    # 2.7's server serves the admin on fed_learn_port: tests/versions runs a 2.7.3 federation on one port
    ("2.7.3", dict(server={"name": "server1", "fed_learn_port": 8002, "admin_port": 8002})),
    ("2.8.3", dict(server={"name": "server1", "fed_learn_port": 8002, "admin_port": 8002})),
    ("2.9.0", dict(server={"name": "server1", "fed_learn_port": 8002, "admin_port": 8002})),
])
def test_what_a_line_can_provision_passes(version, over):
    project, labels, _hosts = from_options(options(**over), version)
    assert check_version_support(project, labels, version) == []


@pytest.mark.parametrize("version, warned", [("2.4.2", True), ("2.5.2", True), ("2.6.3", False), ("2.9.0", False)])
def test_server_host_names_before_26_are_a_documented_warning(version, warned):
    project, labels, _hosts = from_options(options(server={"name": "server1", "host_names": ["10.0.0.1"]}), version)
    out = check_version_support(project, labels, version)
    if warned:
        assert len(out) == 1 and "has no server host_names" in out[0] and "10.0.0.1" in out[0] and version in out[0]
        # what NVFLARE gets: no host_names, and CertBuilder without root_valid_days
        given = compat._for_nvflare(project, version)
        assert "host_names" not in given["participants"][0]
        assert project["participants"][0]["host_names"] == ["10.0.0.1"]  # the spec (fingerprints) keeps them
    else:
        assert out == []
        assert compat._for_nvflare(project, version)["participants"][0]["host_names"] == ["10.0.0.1"]


def test_root_valid_days_reaches_nvflare_only_from_29():
    project = {"participants": [], "builders": [{"path": "nvflare.lighter.impl.cert.CertBuilder",
                                                 "args": {"root_valid_days": 730}}]}
    assert compat._for_nvflare(project, "2.9.0")["builders"][0]["args"] == {"root_valid_days": 730}
    assert "args" not in compat._for_nvflare(project, "2.7.3")["builders"][0]
    assert project["builders"][0]["args"] == {"root_valid_days": 730}


def test_builders_this_nvflare_cannot_load_are_named():
    project = {"builders": [{"path": "nvflare.lighter.impl.cert.CertBuilder"},
                            {"path": "nvflare.lighter.impl.local_static_file.LocalStaticFileBuilder"},
                            {"path": "nvflare.lighter.impl.cert.NoSuchBuilder"}, {"args": {}}]}
    found = compat.check_builders(project, "2.9.0")
    assert [i for i, _p, _w in found] == [1, 2, 3]
    assert "nvflare 2.9.0 cannot load it" in found[0][2] and "No module named" in found[0][2]
    assert "has no NoSuchBuilder" in found[1][2]


def test_kit_private_keys_are_locked(tmp_path):
    startup = tmp_path / "prod_00" / "site-1" / "startup"
    startup.mkdir(parents=True)
    for name in ("client.key", "client.crt", "rootCA.pem"):
        (startup / name).write_text("x")
        os.chmod(str(startup / name), 0o644)
    compat.lock_private_keys(str(tmp_path / "prod_00"))
    modes = dict((p.name, stat.S_IMODE(p.stat().st_mode)) for p in startup.iterdir())
    assert modes == {"client.key": 0o600, "client.crt": 0o644, "rootCA.pem": 0o644}


def test_version_mismatch_says_how_to_get_the_venv():
    have = installed_nvflare_version()
    with pytest.raises(ModuleError) as exc:
        installed_nvflare_version("2.4.2")
    msg = exc.value.msg
    assert "nvflare %s is installed on the control node but nvflare_version is 2.4.2" % have in msg
    assert "scripts/nvflare-venv.sh 2.4.2" in msg and "nvflare_control_python=~/.cache/edgefl/nv-2.4.2/bin/python" in msg


class _Templar:
    def template(self, value):
        return value.replace("{{ ansible_playbook_python }}", sys.executable)


class _Action:
    _templar = _Templar()


@pytest.mark.parametrize("value, other", [
    (None, False), ("auto_silent", False), ("{{ ansible_playbook_python }}", False), (sys.executable, False),
    ("/root/.cache/edgefl/nv-2.4.2/bin/python", True),
])
def test_action_runs_the_module_under_another_python(value, other):
    from ansible_collections.edgefl.nvflare.plugins.action.provision import ActionModule

    task_vars = {} if value is None else {"ansible_python_interpreter": value}
    assert bool(ActionModule._other_python(_Action(), task_vars)) is other


def _sample(version):
    """A project.yml as NVFLARE's own sample of VERSION lists its builders (from_project_file with none given)."""
    data = {"api_version": 3, "name": "p", "participants": [
        {"name": "srv", "type": "server", "org": "o", "fed_learn_port": 8002, "admin_port": 8003},
        {"name": "site-1", "type": "client", "org": "o"}]}
    project, _labels, _hosts = from_project_file("project.yml", data, version)
    return project


@pytest.mark.parametrize("version, change, text", [
    # a 2.6+ client listening_host mapping: a TypeError traceback in 2.4 and 2.5
    ("2.5.2", lambda p: p["participants"][1].update(listening_host={"port": 8102}),
     "nvflare 2.5.2 takes listening_host as a host name only"),
    # 2.4/2.5's HelmChartBuilder reads an overseer participant: an AttributeError traceback without one
    ("2.4.2", lambda p: p["builders"].append({"path": "nvflare.lighter.impl.helm_chart.HelmChartBuilder",
                                              "args": {"docker_image": "x"}}),
     "nvflare 2.4.2's HelmChartBuilder needs an overseer participant"),
    ("2.6.3", lambda p: p["builders"][1]["args"].pop("overseer_agent"), "the project has none"),
    ("2.5.2", lambda p: p["builders"].pop(1), "nvflare 2.5.2 needs the TemplateBuilder"),
])
def test_a_project_of_another_line_is_refused_before_nvflare_runs(version, change, text):
    project = _sample(version)
    change(project)
    with pytest.raises(SpecError) as exc:
        check_version_support(project, {"srv": "participants[0]", "site-1": "participants[1]"}, version)
    assert text in exc.value.msg, exc.value.msg


@pytest.mark.parametrize("version", ["2.4.2", "2.5.2", "2.6.3", "2.7.3", "2.8.3", "2.9.0"])
def test_each_lines_own_sample_passes_its_builder_checks(version):
    assert check_version_support(_sample(version), {}, version) == []


@pytest.mark.parametrize("version, server, warned", [
    # NVFLARE 2.7+ puts an unset admin_port on fed_learn_port (ctx.py); the module gives it 8003
    ("2.9.0", {}, "8002"),
    ("2.7.3", {"fed_learn_port": 9443}, "9443"),
    ("2.8.3", {"fed_learn_port": "8002"}, "8002"),
    # the two lines' own defaults agree: 8003 before 2.7, and an explicit admin_port on any line
    ("2.6.3", {}, None),
    ("2.4.2", {"fed_learn_port": 9443}, None),
    ("2.9.0", {"admin_port": 8003}, None),
    ("2.9.0", {"fed_learn_port": 8002, "admin_port": 8002}, None),
])
def test_a_project_file_without_admin_port_warns_where_nvflare_would_share(version, server, warned):
    data = {"api_version": 3, "name": "p", "participants": [
        dict({"name": "srv", "type": "server", "org": "o"}, **server), {"name": "site-1", "type": "client", "org": "o"}]}
    project, labels, _hosts = from_project_file("project.yml", data, version)
    out = check_version_support(project, labels, version) + project_file_warnings(data, version)
    assert project["participants"][0]["admin_port"] == server.get("admin_port", 8003)
    if warned is None:
        assert out == []
    else:
        assert len(out) == 1 and out[0].startswith("participants[0] (server 'srv') sets no admin_port"), out
        assert "connect on port 8003" in out[0] and "fed_learn_port %s" % warned in out[0] and version in out[0]


def test_inventory_input_is_not_warned_about_its_admin_port():
    """The options path has its documented 8003 (server.admin_port); only a project file is compared with
    nvflare provision of the same file."""
    assert project_file_warnings(None, "2.9.0") == []
