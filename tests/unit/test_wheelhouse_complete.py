"""roles/nvflare_venv/files/wheelhouse_complete.py: the dependencies a wheelhouse built with `pip download
--python-version X.Y` lacks because pip evaluated their markers against the control node's Python."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "nvflare_venv", "files", "wheelhouse_complete.py")


def wheel(directory, name, version, requires=()):
    """A wheel file with a real dist-info METADATA (what pip writes into every wheel)."""
    meta = ["Metadata-Version: 2.1", "Name: %s" % name, "Version: %s" % version]
    meta += ["Requires-Dist: %s" % r for r in requires]
    path = os.path.join(str(directory), "%s-%s-py3-none-any.whl" % (name.replace("-", "_"), version))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("%s-%s.dist-info/METADATA" % (name.replace("-", "_"), version), "\n".join(meta) + "\n\nlong description\nRequires-Dist: not-a-header\n")
    return path


def run(directory, pyver, machine="x86_64"):
    proc = subprocess.run([sys.executable, SCRIPT, str(directory), pyver, machine], capture_output=True, text=True, check=True)
    return proc.stdout.split()


def test_aiohttp_on_python_39_needs_async_timeout(tmp_path):
    # aiohttp's own markers (3.10): async-timeout only below 3.11, brotli extras never without the extra
    wheel(tmp_path, "aiohttp", "3.10.11", [
        "aiohappyeyeballs>=2.3.0", "async-timeout<6.0,>=4.0; python_version < \"3.11\"",
        "Brotli; platform_python_implementation == \"CPython\" and extra == \"speedups\"",
    ])
    wheel(tmp_path, "aiohappyeyeballs", "2.6.1")
    assert run(tmp_path, "3.9") == ["async-timeout<6.0,>=4.0"]
    assert run(tmp_path, "3.11") == []


def test_present_and_satisfied_requirements_are_not_listed(tmp_path):
    wheel(tmp_path, "nvflare", "2.7.3", ["grpcio>=1.62", "Typing_Extensions; python_version < \"3.10\"", "pywin32; sys_platform == \"win32\""])
    wheel(tmp_path, "grpcio", "1.70.0")
    wheel(tmp_path, "typing-extensions", "4.16.0")
    assert run(tmp_path, "3.9") == []
    # a wheel of a version outside the specifier does not count
    wheel(tmp_path, "dill", "0.3.1")
    wheel(tmp_path, "multiprocess", "0.70.18", ["dill>=0.4.0"])
    assert run(tmp_path, "3.9") == ["dill>=0.4.0"]


def test_machine_markers_use_the_host_machine(tmp_path):
    wheel(tmp_path, "torchlike", "1.0", ["nvidia-cudnn; platform_machine == \"x86_64\""])
    assert run(tmp_path, "3.10", "x86_64") == ["nvidia-cudnn"]
    assert run(tmp_path, "3.10", "aarch64") == []
