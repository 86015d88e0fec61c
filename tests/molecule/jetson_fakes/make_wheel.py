# Copyright: contributors to edgefl.nvflare
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build a minimal pure-Python stand-in 'torch' wheel: make_wheel.py OUTDIR -> prints the wheel path."""
import base64
import hashlib
import os
import sys
import zipfile

NAME, VERSION = "torch", "2.3.0+jetsonfake"
FILES = {
    "torch/__init__.py": '__version__ = "%s"\n\n\nclass cuda:\n    @staticmethod\n    def is_available():\n        return False\n' % VERSION,
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
