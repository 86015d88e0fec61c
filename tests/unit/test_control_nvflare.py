"""The control node's nvflare release against what the inventory asks for (plugins/filter/control_nvflare.py), checked
in the first play of site.yml, deploy.yml and add_client.yml before any host is contacted."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from ansible_collections.edgefl.nvflare.plugins.filter.control_nvflare import control_nvflare
from ansible_collections.edgefl.nvflare.plugins.module_utils._provision import installed_nvflare_version, nvflare_version_of
from conftest import run_playbook, unreachable_inventory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = installed_nvflare_version()  # the nvflare of the Python running these tests


def _venv(path, version=None):
    """A real venv (no pip), with an nvflare-VERSION.dist-info in its site-packages when VERSION is given."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    if version:
        lib = path / "lib" / ("python%d.%d" % sys.version_info[:2]) / "site-packages"
        (lib / ("nvflare-%s.dist-info" % version)).mkdir(parents=True)
    return str(path / "bin" / "python")


def _inv(version=None, **hosts):
    """An inventory of s, c1 and c2; version: nvflare_version of every host (group_vars/all)."""
    groups = {"all": ["s", "c1", "c2"], "nvflare_server": ["s"], "nvflare_clients": ["c1", "c2"]}
    common = {"nvflare_version": version} if version else {}
    hostvars = {h: dict(dict({"inventory_hostname": h}, **common), **hosts.get(h, {})) for h in groups["all"]}
    return groups, hostvars


def test_a_venv_is_read_without_starting_it(tmp_path):
    python = _venv(tmp_path / "v", "2.8.3")
    assert nvflare_version_of(python) == "2.8.3"


def test_a_python_without_nvflare_has_none(tmp_path):
    # nothing in site-packages: the venv's Python is run, and it has no nvflare
    assert nvflare_version_of(_venv(tmp_path / "v")) is None


def test_the_python_running_ansible_is_read_in_process():
    assert nvflare_version_of(sys.executable) == HERE


def test_a_missing_python_is_an_error(tmp_path):
    with pytest.raises(OSError, match="no executable Python at"):
        nvflare_version_of(str(tmp_path / "nope" / "python"))


def test_the_release_of_nvflare_version_is_there(tmp_path):
    python = _venv(tmp_path / "v", "2.7.3")
    assert control_nvflare(*_inv("2.7.3"), python=python) == []
    # unset: the collection's default release
    assert control_nvflare(*_inv(), python=_venv(tmp_path / "w", "2.9.0")) == []


def test_another_release_is_refused_with_the_fix(tmp_path):
    python = _venv(tmp_path / "v", "2.9.0")
    found = control_nvflare(*_inv("2.8.0"), python=python)
    assert len(found) == 1, found
    assert found[0].startswith("nvflare_version is 2.8.0, but the control node's Python %s has nvflare 2.9.0: "
                               % python), found
    assert "scripts/nvflare-venv.sh 2.8.0" in found[0] and "-e nvflare_control_python=" in found[0]


@pytest.mark.parametrize("version", [2.9, "2.9"])
def test_a_release_in_short_asks_for_it_in_full(tmp_path, version):
    """An unquoted 2.9 (a YAML number) is 2.9.0 to pip: the message said to build a venv with the nvflare the control
    node already has."""
    python = _venv(tmp_path / "v", "2.9.0")
    assert control_nvflare(*_inv(version), python=python) == [
        "nvflare_version is 2.9, the control node's Python %s has nvflare 2.9.0: give the release in full, 2.9.0 "
        "(quoted: YAML reads an unquoted 2.9 as a number)" % python]


def test_no_nvflare_is_said(tmp_path):
    python = _venv(tmp_path / "v")
    found = control_nvflare(*_inv(), python=python)
    assert found[0].startswith("nvflare_version is 2.9.0, but the control node's Python %s has no nvflare" % python)


def test_a_host_venv_version_the_control_node_does_not_run_is_refused(tmp_path):
    python = _venv(tmp_path / "v", "2.9.0")
    hosts = {h: {"nvflare_venv_version": "2.8.0"} for h in ("s", "c1", "c2")}
    found = control_nvflare(*_inv(**hosts), python=python)
    assert found[0].startswith("nvflare_venv_version is 2.8.0 on s, c1, c2, but the control node's Python"), found
    assert "the inventory asks for 2.9.0 and 2.8.0" in found[1], found
    # the same release as nvflare_version, or a host that opted out of the check: nothing to say
    assert control_nvflare(*_inv(c1={"nvflare_venv_version": "2.9.0"}), python=python) == []
    assert control_nvflare(*_inv(c1={"nvflare_venv_version": "2.8.0", "nvflare_venv_check_control_node": "false"}),
                           python=python) == []


def test_a_hosts_own_nvflare_version_is_read_as_the_venv_role_reads_it(tmp_path):
    """A client whose host_vars set nvflare_version (not nvflare_venv_version) would get that release in its venv,
    with kits provisioned for the federation's: refused in the first play, naming the host and the variable. So is
    nvflare_version set on the server alone: the clients' venvs would run the default release."""
    python = _venv(tmp_path / "v", "2.9.0")
    found = control_nvflare(*_inv(c1={"nvflare_version": "2.5.0"}), python=python)
    assert found[0].startswith("the venv of c1 (its nvflare_version) would run nvflare 2.5.0, but the control node's "
                               "Python"), found
    assert "the inventory asks for 2.9.0 and 2.5.0" in found[1] and "upgrade.yml" in found[1], found
    found = control_nvflare(*_inv(s={"nvflare_version": "2.8.0"}), python=_venv(tmp_path / "w", "2.8.0"))
    assert found[0].startswith("the venv of c1 (its nvflare_version), c2 (its nvflare_version) would run nvflare "
                               "2.9.0"), found
    assert control_nvflare(*_inv("2.9.0", c1={"nvflare_version": "2.9.0"}), python=python) == []


def test_a_missing_control_python_is_named(tmp_path):
    found = control_nvflare(*_inv(), python=str(tmp_path / "python"))
    assert found == ["the control node's Python %s (nvflare_control_python) cannot be used: [Errno 2] no executable "
                     "Python at %s; give the path of a Python with nvflare 2.9.0" % (tmp_path / "python",
                                                                                     tmp_path / "python")]


@pytest.mark.parametrize("book", ["site.yml", "playbooks/deploy.yml", "playbooks/add_client.yml",
                                  "playbooks/upgrade.yml"])
def test_a_deploy_stops_before_any_host_when_the_control_node_lacks_the_release(tmp_path, book):
    """Before, the bootstrap ran (and could install a Python on every host) and provisioning refused the version
    afterwards. Now the first play stops, no host is contacted and nothing is written."""
    ws = unreachable_inventory(tmp_path)
    other = "2.8.0" if HERE != "2.8.0" else "2.7.3"
    proc = run_playbook(tmp_path, "-i", "inv.yml", os.path.join(ROOT, book), "-e", "nvflare_version=%s" % other,
                        "-e", "nvflare_add_clients=c1", "-e", "nvflare_control_python=%s" % sys.executable, timeout=120)
    out = " ".join(proc.stdout.split())
    assert proc.returncode != 0, proc.stdout
    assert "nvflare_version is %s, but the control node's Python %s has nvflare %s" % (other, sys.executable, HERE) \
        in out, out
    assert "UNREACHABLE" not in proc.stdout and "Bootstrap" not in proc.stdout, proc.stdout
    assert not ws.exists()  # no lock file, no kit


def test_an_upgrade_stops_when_a_host_pins_another_venv_release(tmp_path):
    """-e nvflare_version=X does not override an inventory's nvflare_venv_version: the staged venv would get that
    release. The first play names the host and says to set nvflare_version instead."""
    ws = unreachable_inventory(tmp_path, "nvflare_venv_version: '2.7.3'")
    proc = run_playbook(tmp_path, "-i", "inv.yml", os.path.join(ROOT, "playbooks", "upgrade.yml"),
                        "-e", "nvflare_version=%s" % HERE, "-e", "nvflare_control_python=%s" % sys.executable,
                        timeout=120)
    out = " ".join(proc.stdout.split())
    assert proc.returncode != 0, proc.stdout
    assert "nvflare_venv_version is 2.7.3 on c1, but the control node's Python %s has nvflare %s" % (
        sys.executable, HERE) in out, out
    assert "set nvflare_version once (group_vars/all) instead of a host's nvflare_venv_version" in out, out
    assert "UNREACHABLE" not in proc.stdout, proc.stdout
    assert not ws.exists()
