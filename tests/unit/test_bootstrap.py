# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/files/bootstrap.sh run for real (dash, a PATH of fakes, fake os-release trees) and its report
parsed by the real edgefl.nvflare.bootstrap_plan filter."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.filter.ansible_python_floor import ansible_python_floor
from ansible_collections.edgefl.nvflare.plugins.filter.bootstrap_plan import bootstrap_plan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "playbooks", "files", "bootstrap.sh")
# dash is /bin/sh on Debian, Ubuntu and L4T; bash where /bin/sh is bash
SHELLS = sorted({os.path.realpath(s) for s in ("/bin/dash", "/bin/sh", "/bin/bash")
                 if os.path.exists(s)})

UBUNTU_1804 = 'NAME="Ubuntu"\nVERSION="18.04.6 LTS (Bionic Beaver)"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="18.04"\n'
DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\n'
DEBIAN_10 = 'VERSION_ID="10"\nID=debian\n'
RASPBIAN = "ID=raspbian\nID_LIKE=debian\nVERSION_ID='11'"  # single quotes, no final newline
ALPINE = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n"

# apt-get stand-in: records its arguments; `install` creates the Pythons named in FAKE_APT_PROVIDES
# (PKG=NAME=VERSION ...) in FAKE_APT_DIR, or fails when FAKE_APT_FAIL is set.
FAKE_APT = """#!/bin/sh
echo "$*" >>"$FAKE_APT_LOG"
[ "$1" = install ] || exit 0
[ -z "$FAKE_APT_FAIL" ] || { echo "E: Unable to locate package $4" >&2; exit 100; }
for pkg in "$@"; do
  for spec in $FAKE_APT_PROVIDES; do
    p=${spec%%=*}; rest=${spec#*=}; name=${rest%%=*}; ver=${rest#*=}
    [ "$p" = "$pkg" ] || continue
    printf '#!/bin/sh\\necho %s\\n' "$ver" >"$FAKE_APT_DIR/$name"; /bin/chmod 755 "$FAKE_APT_DIR/$name"
  done
done
echo "Setting up $*"
"""


class Host:
    """A fake host: a Python directory, a bin directory with the tools (apt-get or not), an os-release."""

    def __init__(self, tmp_path, shell):
        self.shell = shell
        self.pydir = tmp_path / "usr-bin"
        self.pydir.mkdir()
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.os_release = tmp_path / "os-release"
        self.apt_log = tmp_path / "apt.log"
        self.env_extra = {}

    def python(self, name, version, directory=None):
        path = (directory or self.pydir) / name
        path.write_text("#!/bin/sh\necho %s\n" % version)
        path.chmod(0o755)
        return str(path)

    def broken(self, name):
        path = self.pydir / name
        path.write_text("#!/bin/sh\nexit 127\n")
        path.chmod(0o755)
        return str(path)

    def apt(self, provides="", fail=False):
        (self.bin / "apt-get").write_text(FAKE_APT)
        (self.bin / "apt-get").chmod(0o755)
        self.env_extra.update(FAKE_APT_PROVIDES=provides, FAKE_APT_DIR=str(self.pydir),
                              FAKE_APT_FAIL="1" if fail else "")

    def distro(self, text):
        self.os_release.write_text(text)

    def apt_calls(self):
        return self.apt_log.read_text().splitlines() if self.apt_log.exists() else []

    def run(self, mode, floor="3.8", interpreter=None, dirs=None):
        env = {"PATH": str(self.bin), "EDGEFL_OS_RELEASE": str(self.os_release),
               "EDGEFL_BOOTSTRAP_DIRS": dirs or str(self.pydir), "FAKE_APT_LOG": str(self.apt_log)}
        env.update(self.env_extra)
        argv = [self.shell, SCRIPT, mode, floor] + ([interpreter] if interpreter is not None else [])
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
        assert proc.returncode == 0, proc.stderr
        return bootstrap_plan({"stdout": proc.stdout, "stderr": proc.stderr, "rc": proc.returncode})


@pytest.fixture(params=SHELLS)
def host(request, tmp_path):
    return Host(tmp_path, request.param)


def test_usable_python3_is_used_and_nothing_installed(host):
    py = host.python("python3", "3.11")
    host.apt()
    plan = host.run("apply")
    assert plan["status"] == "ok" and plan["interpreter"] == py and plan["version"] == "3.11"
    assert not plan["changed"] and not plan["failed"]
    assert host.apt_calls() == []
    # the cheap path: one Python started, the first usable one
    assert plan["found"] == [py + " 3.11"]


def test_jetpack46_check_mode_reports_python38_and_installs_nothing(host):
    host.python("python3", "3.6")
    host.python("python3.6", "3.6")
    host.apt(provides="python3.8=python3.8=3.8")
    host.distro(UBUNTU_1804)
    plan = host.run("check")
    assert plan["status"] == "would_install" and plan["packages"] == ["python3.8"]
    assert plan["changed"] and not plan["failed"] and plan["interpreter"] == ""
    assert plan["distro"] == "ubuntu 18.04"
    assert "would install python3.8" in plan["msg"]
    assert host.apt_calls() == []
    assert not (host.pydir / "python3.8").exists()


def test_jetpack46_apply_installs_python38_then_a_second_run_does_nothing(host):
    host.python("python3", "3.6")
    host.apt(provides="python3.8=python3.8=3.8")
    host.distro(UBUNTU_1804)
    plan = host.run("apply")
    assert plan["status"] == "installed" and plan["changed"]
    assert plan["interpreter"] == str(host.pydir / "python3.8") and plan["version"] == "3.8"
    assert host.apt_calls() == ["update -q", "install -y -q --no-install-recommends python3.8"]
    again = host.run("apply")
    assert again["status"] == "ok" and not again["changed"]
    assert again["interpreter"] == plan["interpreter"]
    assert len(host.apt_calls()) == 2


def test_debian_without_python3_gets_python3_and_python3_apt(host):
    host.apt(provides="python3=python3=3.11 python3=python3.11=3.11")
    host.distro(DEBIAN_12)
    check = host.run("check")
    assert check["status"] == "would_install" and check["packages"] == ["python3", "python3-apt"]
    assert check["found"] == [] and host.apt_calls() == []
    plan = host.run("apply")
    assert plan["status"] == "installed" and plan["interpreter"] == str(host.pydir / "python3")
    assert plan["packages"] == ["python3", "python3-apt"]
    assert "installed python3 python3-apt with apt-get" in plan["msg"]


def test_debian_derivative_by_id_like_with_quoted_values(host):
    host.apt(provides="python3=python3=3.9")
    host.distro(RASPBIAN)
    plan = host.run("check")
    assert plan["status"] == "would_install" and plan["distro"] == "raspbian 11"


def test_unknown_distribution_is_unsupported_with_what_to_do(host):
    host.python("python3", "3.6")
    host.apt()
    host.distro(ALPINE)
    for mode in ("check", "apply"):
        plan = host.run(mode)
        assert plan["status"] == "unsupported" and plan["failed"] and not plan["changed"]
        assert "no known package for alpine 3.19.1" in plan["msg"]
        assert "set ansible_python_interpreter" in plan["msg"]
    assert host.apt_calls() == []


def test_missing_os_release_is_unsupported(host):
    plan = host.run("apply")
    assert plan["status"] == "unsupported" and plan["distro"] == "unknown unknown"


def test_debian_without_apt_get_is_unsupported(host):
    host.distro(DEBIAN_12)
    plan = host.run("apply")
    assert plan["status"] == "unsupported" and "no apt-get" in plan["msg"]


def test_failed_install_is_reported_with_apt_output(host):
    host.apt(fail=True)
    host.distro(DEBIAN_12)
    plan = host.run("apply")
    assert plan["status"] == "failed" and plan["failed"]
    assert "apt-get install python3 python3-apt failed" in plan["msg"]
    assert "Unable to locate package" in plan["msg"]


def test_install_that_still_leaves_an_old_python_fails(host):
    # Debian 10's python3 is 3.7: installed, still below the floor
    host.apt(provides="python3=python3=3.7")
    host.distro(DEBIAN_10)
    plan = host.run("apply")
    assert plan["status"] == "failed" and "still no Python >= 3.8" in plan["msg"]
    assert plan["found"] == [str(host.pydir / "python3") + " 3.7"]


def test_floor_compares_minor_numerically(host):
    host.python("python3", "3.9")
    host.python("python3.10", "3.10")
    plan = host.run("check", floor="3.10")
    assert plan["status"] == "ok" and plan["interpreter"] == str(host.pydir / "python3.10")
    assert plan["found"] == [str(host.pydir / "python3") + " 3.9", str(host.pydir / "python3.10") + " 3.10"]


def test_newest_versioned_python_wins_and_broken_ones_are_skipped(host, tmp_path):
    host.broken("python3")
    host.python("python3.8", "3.8")
    host.python("python3.12", "3.12")
    plan = host.run("apply")
    assert plan["interpreter"] == str(host.pydir / "python3.12")
    assert plan["found"][0] == str(host.pydir / "python3") + " unknown"


def test_directories_in_order(host, tmp_path):
    local = tmp_path / "usr-local-bin"
    local.mkdir()
    host.python("python3", "3.12", directory=local)
    host.python("python3", "3.11")
    plan = host.run("apply", dirs="%s %s" % (host.pydir, local))
    assert plan["interpreter"] == str(host.pydir / "python3")


def test_user_interpreter_is_verified_never_replaced(host):
    host.python("python3", "3.6")
    good = host.python("python3.9", "3.9")
    host.apt(provides="python3.8=python3.8=3.8")
    host.distro(UBUNTU_1804)
    plan = host.run("apply", interpreter=good)
    assert plan["status"] == "verified" and plan["interpreter"] == good and not plan["changed"]
    old = host.run("apply", interpreter=str(host.pydir / "python3"))
    assert old["status"] == "failed" and "is Python 3.6 but this ansible-core needs >= 3.8" in old["msg"]
    missing = host.run("apply", interpreter="/opt/none/python3")
    assert missing["status"] == "failed" and "/opt/none/python3 does not run" in missing["msg"]
    assert host.apt_calls() == []


@pytest.mark.parametrize("args", [("install", "3.8"), ("apply", "three"), ("apply", "3.x")])
def test_bad_arguments_fail_clearly(host, args):
    proc = subprocess.run([host.shell, SCRIPT] + list(args), capture_output=True, text=True,
                          env={"PATH": "/nonexistent"}, check=False)
    plan = bootstrap_plan(proc.stdout)
    assert plan["status"] == "failed" and "bootstrap.sh:" in plan["msg"]


def test_plan_ignores_banners_and_tty_carriage_returns():
    out = ("Welcome to Ubuntu 18.04.6 LTS\r\nEDGEFL found=/usr/bin/python3 3.6\r\n"
           "EDGEFL interpreter=/usr/bin/python3.8\r\nEDGEFL version=3.8\r\nEDGEFL packages=python3.8\r\n"
           "EDGEFL status=installed\r\nShared connection to jetson closed.\r\n")
    plan = bootstrap_plan({"stdout": out, "stderr": "", "rc": 0})
    assert plan["interpreter"] == "/usr/bin/python3.8" and plan["status"] == "installed" and plan["changed"]
    assert plan["found"] == ["/usr/bin/python3 3.6"]


def test_plan_without_status_is_a_failure_with_stderr():
    plan = bootstrap_plan({"stdout": "", "stderr": "sudo: a password is required\n", "rc": 1})
    assert plan["failed"] and not plan["changed"]
    assert "no status line" in plan["msg"] and "exit code 1" in plan["msg"]
    assert "sudo: a password is required" in plan["msg"]
    odd = bootstrap_plan("EDGEFL status=maybe\n")
    assert odd["failed"] and "unknown status 'maybe'" in odd["msg"]


def test_plan_rejects_inconsistent_reports():
    assert bootstrap_plan("EDGEFL status=ok\n")["failed"]
    assert bootstrap_plan("EDGEFL status=would_install\n")["failed"]
    assert bootstrap_plan(b"EDGEFL interpreter=/usr/bin/python3\nEDGEFL status=ok\n")["interpreter"] == "/usr/bin/python3"
    with pytest.raises(AnsibleFilterError, match="registered result of the raw task"):
        bootstrap_plan(["EDGEFL status=ok"])


def test_floor_is_read_from_ansible_core():
    from ansible.module_utils.basic import _PY_MIN

    assert ansible_python_floor(None) == "%d.%d" % _PY_MIN[:2]
    assert ansible_python_floor(None) == "3.8"  # ansible-core 2.19 (requirements.txt pins it)


def test_script_is_posix_sh_clean():
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck not installed")
    subprocess.run(["shellcheck", "-s", "sh", SCRIPT], check=True)
