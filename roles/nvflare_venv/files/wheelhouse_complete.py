"""Complete a wheelhouse downloaded for another Python version (edgefl.nvflare.nvflare_venv).

``pip download --python-version X.Y`` picks wheels for X.Y but evaluates the environment markers of their
dependencies against the Python that runs pip. A dependency only older Pythons need (aiohttp's
``async-timeout; python_version < "3.11"``) is then missing, and the host's NVFLARE fails at run time.

  wheelhouse_complete.py DIR X.Y MACHINE
prints, one per line, every requirement that a wheel in DIR declares for Python X.Y on Linux/MACHINE and that
no wheel in DIR provides (an empty output: the wheelhouse is complete). build-wheelhouse.sh downloads those and
asks again until nothing is missing. Uses only the standard library and pip's vendored ``packaging``.
"""

from __future__ import annotations

import os
import re
import sys
import zipfile

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version
except ImportError:  # the Python running Ansible always has pip
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name
    from pip._vendor.packaging.version import Version


def target_env(pyver, machine):
    major, minor = pyver.split(".")[:2]
    return {
        "python_version": "%s.%s" % (major, minor),
        "python_full_version": "%s.%s.0" % (major, minor),
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_release": "",
        "platform_version": "",
        "implementation_version": "%s.%s.0" % (major, minor),
        "extra": "",
    }


def wheel_metadata(path):
    """(name, version, [Requires-Dist lines]) of a wheel file."""
    with zipfile.ZipFile(path) as z:
        meta = next(n for n in z.namelist() if re.match(r"^[^/]+\.dist-info/METADATA$", n))
        text = z.read(meta).decode("utf-8", "replace")
    head = text.split("\n\n", 1)[0]
    fields = re.findall(r"^([A-Za-z-]+): (.*)$", head, re.M)
    name = next(v for k, v in fields if k == "Name")
    version = next(v for k, v in fields if k == "Version")
    return name, version, [v for k, v in fields if k == "Requires-Dist"]


def missing(directory, pyver, machine):
    env = target_env(pyver, machine)
    have, requires = {}, []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".whl"):
            dist, version, reqs = wheel_metadata(os.path.join(directory, name))
            have[canonicalize_name(dist)] = Version(version)
            requires.extend(reqs)
    out = []
    for line in requires:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        got = have.get(canonicalize_name(req.name))
        if got is not None and (not req.specifier or req.specifier.contains(got, prereleases=True)):
            continue
        text = str(Requirement("%s%s" % (req.name, req.specifier)))
        if text not in out:
            out.append(text)
    return out


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: wheelhouse_complete.py DIR X.Y MACHINE\n")
        return 2
    for line in missing(argv[1], argv[2], argv[3]):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
