"""Observable state after nvflare_venv converged (testinfra over podman://)."""

VENV = "/opt/nvflare/venv"


def test_venv_python_imports_pinned_nvflare(instance):
    out = instance.check_output(
        f"{VENV}/bin/python -c 'import nvflare, importlib.metadata as m; print(m.version(\"nvflare\"))'"
    )
    assert out.strip() == "2.9.0"


def test_venv_python_version_supported(instance):
    out = instance.check_output(f"{VENV}/bin/python -c 'import sys; print(sys.version_info[:2] >= (3, 10))'")
    assert out.strip() == "True"


def test_venv_owned_by_root_not_writable_by_service_user(instance):
    venv = instance.file(VENV)
    assert venv.is_directory
    assert venv.user == "root"
    assert venv.mode & 0o022 == 0
    # the service user can run, not modify, its code
    assert instance.run(f"runuser -u nvflare -- test -w {VENV}/lib").rc != 0
    assert instance.run(f"runuser -u nvflare -- {VENV}/bin/python -c 'import nvflare'").rc == 0


def test_nvflare_system_user(instance):
    user = instance.user("nvflare")
    assert user.exists
    assert user.group == "nvflare"
    assert user.uid < 1000
    assert user.shell == "/usr/sbin/nologin"
    home = instance.file("/var/lib/nvflare")
    assert home.user == "nvflare" and home.mode == 0o750


def test_wheelhouse_removed_and_no_ensurepip_needed(instance):
    # the unpacked wheelhouse is removed after install (nvflare_venv_wheelhouse_keep: false)
    assert instance.run("ls /var/cache/nvflare/wheelhouse/nvflare-*").rc != 0
    # wheelhouse mode: the venv is made --without-pip and pip comes from the wheelhouse, so the
    # host needs neither python3-venv (ensurepip) nor apt
    assert not instance.package("python3-venv").is_installed
    out = instance.check_output(f"{VENV}/bin/python -m pip --version")
    assert out.startswith("pip ") and VENV in out


def test_no_deps_install_is_complete(instance):
    # every wheel was installed with --no-deps: pip itself confirms nothing is missing or conflicting
    out = instance.check_output(f"{VENV}/bin/python -m pip check")
    assert "No broken requirements found" in out


def test_requirements_marker_recorded(instance):
    marker = instance.file(f"{VENV}/.edgefl-requirements")
    assert marker.user == "root"
    assert '"nvflare==2.9.0"' in marker.content_string


def test_installed_os_packages_recorded(instance):
    # the apt task installed jq (molecule.yml) and its dependencies: all recorded for the uninstall
    recorded = instance.file("/var/lib/edgefl-nvflare/venv-packages").content_string.split()
    assert {"jq", "libjq1", "libonig5"} <= {p.split(":")[0] for p in recorded}
    # packages that were there before are not the role's
    assert not any(p.split(":")[0] in ("dpkg", "python3", "libc6") for p in recorded)
