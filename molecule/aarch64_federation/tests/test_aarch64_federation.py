"""An arm64 client (qemu-user-static) in a real federation with an x86 server."""

import glob
import os

EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
SERVER, CLIENT, SITE = "edgefl-j-a64-server", "edgefl-j-a64-client", "site-a64"
VENV_PY = "/opt/nvflare/venv/bin/python"


def test_architectures(podman_host):
    assert podman_host(SERVER).check_output("uname -m") == "x86_64"
    assert podman_host(CLIENT).check_output("uname -m") == "aarch64"


def test_client_venv_is_aarch64_nvflare(podman_host):
    out = podman_host(CLIENT).check_output(
        VENV_PY + " -c 'import nvflare, numpy, sysconfig, platform;"
        " print(nvflare.__version__, sysconfig.get_platform(), platform.machine())'"
    )
    version, plat, machine = out.split()
    assert version.startswith("2.9.0")
    assert plat == "linux-aarch64" and machine == "aarch64"
    # numpy's compiled core is an aarch64 ELF from the aarch64 wheelhouse, not a source build
    so = podman_host(CLIENT).check_output(
        VENV_PY + " -c 'import glob, numpy, os;"
        " print(sorted(glob.glob(os.path.join(os.path.dirname(numpy.__file__), \"_core\", \"_multiarray_umath*.so\")))[0])'"
    )
    assert "aarch64" in so


def test_aarch64_wheelhouse_built_on_control_node():
    cache = os.path.expanduser("~/.cache/edgefl-nvflare/wheelhouse")
    tars = [p for p in glob.glob(os.path.join(cache, "**", "*.tar"), recursive=True) if "aarch64" in p]
    assert tars, "no aarch64 wheelhouse under %s" % cache


def test_services_running(podman_host):
    for name, unit in ((SERVER, "nvflare-server.service"), (CLIENT, "nvflare-client.service")):
        svc = podman_host(name).service(unit)
        assert svc.is_running and svc.is_enabled, (name, unit)


def test_client_reaches_server(podman_host):
    client = podman_host(CLIENT)
    assert client.check_output("getent hosts server1").split()[0] == "10.89.52.10"
    ss = client.check_output("ss -tnH state established")
    assert "10.89.52.10:8002" in ss


def test_job_completed_with_the_arm64_client(podman_host):
    results = [d for d in glob.glob(os.path.join(EPHEMERAL, "results", "*")) if os.path.isdir(d)]
    assert len(results) == 1, results
    job_id = os.path.basename(results[0])
    client = podman_host(CLIENT)
    job_dir = "/var/lib/nvflare/%s/%s" % (SITE, job_id)
    assert client.file(job_dir).is_directory, job_dir
    log = client.check_output("cat %s/log.txt" % job_dir)
    assert "Traceback" not in log
