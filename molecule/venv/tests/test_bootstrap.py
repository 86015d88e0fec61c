"""The host built without python3 (edgefl-r-venv-nopy): bootstrapped by playbooks/bootstrap.yml."""

import re

import pytest


@pytest.fixture
def nopy(group_hosts):
    hosts = group_hosts("edgefl_nopython")
    assert [name for name, _host in hosts] == ["edgefl-r-venv-nopy"]
    return hosts[0][1]


def test_interpreter_installed_by_apt(nopy):
    out = nopy.check_output("/usr/bin/python3 -c 'import sys; print(sys.version_info[:2] >= (3, 8))'")
    assert out.strip() == "True"
    assert nopy.package("python3").is_installed
    assert nopy.package("python3-apt").is_installed
    # apt's own log: the image purged python3, the bootstrap's apt-get installed it again
    log = nopy.file("/var/log/apt/history.log").content_string
    entries = [e for e in log.split("\n\n") if "Commandline:" in e]
    assert re.search(r"Commandline: apt-get purge .*python3", entries[0])
    installs = [e for e in entries if re.search(r"Commandline: apt-get install .*--no-install-recommends python3 python3-apt", e)]
    assert len(installs) == 1, "installed once: the idempotence run must not install again"
    assert re.search(r"^Install: .*\bpython3:amd64", installs[0], re.M)


def test_bootstrapped_host_got_the_role(nopy):
    out = nopy.check_output("/opt/nvflare/venv/bin/python -c 'import nvflare; print(nvflare.__file__)'")
    assert "/opt/nvflare/venv/" in out
