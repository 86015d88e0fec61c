# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check every kit of a provisioning project with openssl: usage pki_check.py <project_dir> [name ...].

For each kits/<name> link (and the names given, which must have one): the kit's certificate(s) verify
with ``openssl verify -CAfile`` against the workspace's root CA (state/cert.json), the kit's rootCA.pem
is that root CA, and each certificate's public key is its private key's (``openssl x509 -pubkey`` vs
``openssl pkey -pubout``). Prints one line per problem and a JSON summary; exit 1 on any problem.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile


def _public(pem_or_key, is_key):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if is_key:
        pub = serialization.load_pem_private_key(pem_or_key, password=None).public_key()
    else:
        pub = x509.load_pem_x509_certificate(pem_or_key).public_key()
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check(project_dir, names=()):
    """(kit names, problems) of every kits/<name> of the project."""
    problems = []
    with open(os.path.join(project_dir, "state", "cert.json")) as f:
        root = json.load(f)["root_cert"].encode("ascii")
    kits_dir = os.path.join(project_dir, "kits")
    kits = sorted(k for k in (os.listdir(kits_dir) if os.path.isdir(kits_dir) else []) if not k.startswith("."))
    for name in names:
        if name not in kits:
            problems.append("%s: no kits/%s" % (name, name))
    certs = []
    for name in kits:
        startup = os.path.join(kits_dir, name, "startup")
        try:
            with open(os.path.join(startup, "rootCA.pem"), "rb") as f:
                if f.read() != root:
                    problems.append("%s: rootCA.pem is not the workspace root CA" % name)
        except OSError as exc:
            problems.append("%s: %s" % (name, exc))
            continue
        pairs = [b for b in ("server", "client") if os.path.exists(os.path.join(startup, b + ".crt"))]
        if not pairs:
            problems.append("%s: no certificate" % name)
        for base in pairs:
            crt, key = os.path.join(startup, base + ".crt"), os.path.join(startup, base + ".key")
            certs.append(crt)
            try:
                with open(crt, "rb") as f1, open(key, "rb") as f2:
                    if _public(f1.read(), False) != _public(f2.read(), True):
                        problems.append("%s: %s.key does not match %s.crt" % (name, base, base))
            except (OSError, ValueError) as exc:
                problems.append("%s: %s.crt/%s.key: %s" % (name, base, base, exc))
    if certs:
        # one openssl verify for every certificate: "<file>: OK" per line
        with tempfile.NamedTemporaryFile(suffix=".pem") as ca:
            ca.write(root)
            ca.flush()
            proc = subprocess.run(["openssl", "verify", "-CAfile", ca.name] + certs, capture_output=True, text=True,
                                  check=False)
        ok = set(line[:-len(": OK")] for line in proc.stdout.splitlines() if line.endswith(": OK"))
        for crt in certs:
            if crt not in ok:
                problems.append("openssl verify failed for %s: %s" % (os.path.relpath(crt, kits_dir),
                                                                      (proc.stdout + proc.stderr).strip()[-300:]))
    return kits, problems


def main(argv):
    kits, problems = check(argv[1], argv[2:])
    for p in problems:
        print(p)
    print(json.dumps({"kits": len(kits), "problems": len(problems)}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
