"""Shared testinfra helpers for every Molecule scenario of edgefl.nvflare.

Loaded as a pytest plugin by .config/molecule/config.yml (``-p edgefl_testinfra``).
Hosts are reached with testinfra's ``podman://`` backend (about 8x faster than going
through Ansible); names and groups come from the inventory Molecule generated.

Fixtures:
  ``instance``      parametrized over every instance of the scenario (a testinfra Host)
  ``instances``     dict name -> Host for all instances
  ``group_hosts``   function(group) -> list of (name, Host)
  ``podman_host``   function(name) -> Host
  ``hostvars``      function(name) -> dict of the instance's inventory variables
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import lru_cache

import pytest
import testinfra


@lru_cache(maxsize=1)
def _inventory() -> dict:
    path = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not path:
        raise RuntimeError("MOLECULE_INVENTORY_FILE is not set: run these tests through `molecule verify`")
    out = subprocess.run(
        ["ansible-inventory", "-i", path, "--list"], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


def _group_members(group: str) -> list[str]:
    inv = _inventory()
    seen: list[str] = []
    todo = [group]
    while todo:
        g = todo.pop(0)
        data = inv.get(g, {})
        for h in data.get("hosts", []):
            if h not in seen:
                seen.append(h)
        todo.extend(data.get("children", []))
    return seen


def _all_instances() -> list[str]:
    return sorted(_group_members("all"))


@lru_cache(maxsize=None)
def _host(name: str) -> testinfra.host.Host:
    return testinfra.get_host(f"podman://{name}")


def pytest_generate_tests(metafunc):
    if "instance" in metafunc.fixturenames:
        names = _all_instances()
        metafunc.parametrize("instance", names, ids=names, indirect=True)


@pytest.fixture
def instance(request):
    return _host(request.param)


@pytest.fixture(scope="session")
def podman_host():
    return _host


@pytest.fixture(scope="session")
def instances():
    return {n: _host(n) for n in _all_instances()}


@pytest.fixture(scope="session")
def group_hosts():
    def _get(group: str):
        return [(n, _host(n)) for n in sorted(_group_members(group))]

    return _get


@pytest.fixture(scope="session")
def hostvars():
    def _get(name: str) -> dict:
        return _inventory().get("_meta", {}).get("hostvars", {}).get(name, {})

    return _get


def systemd_security_exposure(host, unit: str) -> float:
    """Return the overall exposure score of `systemd-analyze security <unit>` (lower is better)."""
    out = host.check_output("systemd-analyze security --no-pager %s", unit)
    last = [line for line in out.splitlines() if "Overall exposure level" in line]
    assert last, f"no exposure line in systemd-analyze output:\n{out}"
    # "-> Overall exposure level for nvflare-server.service: 2.9 OK :-)"
    return float(last[-1].split(":", 1)[1].split()[0])


# --- the control node's side of a scenario: its playbooks and modules run against the Molecule inventory -------
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def ansible_env() -> dict:
    """The environment the scenarios run ansible and ansible-playbook with (the checkout's ansible.cfg)."""
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    return env


def scenario_inventory_args(*extra: str) -> list[str]:
    """-i for the inventory Molecule generated (its directory: group_vars and host_vars included), then extra."""
    args = ["-i", os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])]
    for path in extra:
        args += ["-i", path]
    return args


def scenario_admin_kit(name: str = "admin@nvidia.com") -> str:
    """The admin kit the nvflare_admin role installed for the scenario's workspace."""
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "workspace", "admin", name)


def collection_module(name: str, args: dict, inventory_args: list[str]) -> dict:
    """Run the module edgefl.nvflare.<name> on the control node through Ansible; return its result."""
    env = ansible_env()
    env.update(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    proc = subprocess.run(
        ["ansible", "localhost", *inventory_args, "-m", "edgefl.nvflare." + name, "-a", json.dumps(args)],
        env=env, capture_output=True, text=True, check=False,
    )
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    return data["plays"][0]["tasks"][0]["hosts"]["localhost"]


def unit_main_pid(host, unit: str) -> int:
    return int(host.check_output("systemctl show -p MainPID --value %s", unit))


NVFLARE_VERSION_CMD = "%s/bin/python -c 'import importlib.metadata as m; print(m.version(\"nvflare\"))'"


def venv_versions(podman_host, hosts: dict, venv: str) -> dict:
    """{site: the nvflare version installed in venv} for each {container name: site name} in hosts."""
    return {site: podman_host(name).check_output(NVFLARE_VERSION_CMD % venv) for name, site in hosts.items()}


def upgrade_leftovers(podman_host, hosts: dict, venv: str, version: str, workspace: str | None = None) -> list:
    """What playbooks/upgrade.yml kept aside and should have dropped: the previous venv, a staged venv of
    version, a saved kit on each host of hosts ({container name: site name}), and the saved workspace on the
    control node when workspace is given."""
    found = []
    for name, site in hosts.items():
        for path in (venv + ".previous", venv + "-" + version, "/var/lib/nvflare/%s/.edgefl-upgrade-previous" % site):
            if podman_host(name).file(path).exists:
                found.append("%s:%s" % (name, path))
    for kept in (".edgefl.upgrade-previous", ".edgefl.upgrade-previous.partial", ".edgefl.upgrade-previous.failed"):
        if workspace and os.path.exists(os.path.join(workspace, kept)):
            found.append("control node: %s/%s" % (workspace, kept))
    return found
