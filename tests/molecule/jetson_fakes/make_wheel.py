# Copyright: contributors to edgefl.nvflare
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build a minimal pure-Python stand-in 'torch' wheel: make_wheel.py OUTDIR -> prints the wheel path."""
import base64
import hashlib
import os
import sys
import zipfile

NAME, VERSION = "torch", "2.3.0+jetsonfake"
# torch.cuda.is_available() of the stand-in: True only where a job in the NVFLARE unit's sandbox would get
# the GPU - a non-root process with no_new_privs that can open the L4T GPU nodes read-write (the Jetson
# lookalikes map stand-in nodes, root:video 0660). The torch check must run that way to see CUDA.
TORCH_INIT = '''import os

__version__ = "%s"
GPU_NODES = ("/dev/nvmap", "/dev/nvhost-ctrl-gpu")


class cuda:
    @staticmethod
    def is_available():
        with open("/proc/self/status") as f:
            sandboxed = "NoNewPrivs:\\t1" in f.read()
        if os.geteuid() == 0 or not sandboxed:
            return False
        try:
            for node in GPU_NODES:
                os.close(os.open(node, os.O_RDWR))
        except OSError:
            return False
        return True
''' % VERSION
FILES = {
    "torch/__init__.py": TORCH_INIT,
    "torch-%s.dist-info/METADATA" % VERSION: "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: stand-in\n" % (NAME, VERSION),
    "torch-%s.dist-info/WHEEL" % VERSION: "Wheel-Version: 1.0\nGenerator: edgefl-make-wheel\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}


def main(outdir):
    path = os.path.join(outdir, "%s-%s-py3-none-any.whl" % (NAME, VERSION))
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        for name, text in sorted(FILES.items()):
            data = text.encode()
            whl.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append("%s,sha256=%s,%d" % (name, digest, len(data)))
        rec_name = "torch-%s.dist-info/RECORD" % VERSION
        record.append(rec_name + ",,")
        whl.writestr(zipfile.ZipInfo(rec_name, (2024, 1, 1, 0, 0, 0)), "\n".join(record) + "\n")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
