"""Stand-in for the pip bootstrap script ansible-test downloads.

ansible-test creates its sanity virtualenvs without pip and then downloads
get-pip-<version>.py from ansible's CI file host, which this machine cannot reach
(only PyPI is). This file does the same job: ansible-test runs it as
`python get_pip_X_Y.py [pip options] [packages]`, exactly like the original, and it
installs the requested packages (pip itself first) into that python's environment
with the pip found on PATH (`pip --python`, pip >= 22.3), or ensurepip as a fallback.
"""

import shutil
import subprocess
import sys

# Options understood by get-pip.py but not by `pip install`.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
pip = shutil.which("pip3") or shutil.which("pip")
if pip:
    subprocess.check_call([pip, "--python", sys.executable, "install", "-q"] + args)
else:
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + args)
