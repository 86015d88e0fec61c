# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The installed admin kit's fed_admin.json and its entry in startup/signature.json (private).

NVFLARE signs every file of a kit's startup folder with the root CA key (signature.json: file name ->
base64 of an RSA-PSS/SHA-256 signature, verified against startup/rootCA.pem). The collection rewrites
fed_admin.json (the server's address); NVFLARE 2.7.x refuses an admin kit whose fed_admin.json does
not verify (2.4-2.6 and 2.8+ only check a file that is signed and fails). So the rewritten file gets
its own signature, made here on the control node, where the root CA key already is: the key is read
from the provisioning state and never leaves this process.

PSS signatures are randomised: a signature is only made when the one in place does not verify the
wanted bytes, so a run that changes nothing writes nothing.
"""

from __future__ import annotations

import base64
import json
import os

SIGNATURE_FILE = "signature.json"
ROOT_CERT = "rootCA.pem"
CONFIG_FILE = "fed_admin.json"

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    CRYPTOGRAPHY_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    CRYPTOGRAPHY_ERROR = exc


class AdminKitError(Exception):
    pass


def render(config):
    """fed_admin.json as the role always wrote it (ansible's to_nice_json(indent=2): sorted keys, no newline)."""
    return json.dumps(config, indent=2, sort_keys=True, separators=(",", ": ")).encode("utf-8")


def _pss():
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)


def verifies(cert_pem, data, signature_b64):
    """True when signature_b64 is the root CA's signature of data (NVFLARE's SecurityContentManager check)."""
    if not signature_b64:
        return False
    try:
        signature = base64.b64decode(signature_b64.encode("ascii"))
        key = x509.load_pem_x509_certificate(cert_pem).public_key()
        key.verify(signature, data, _pss(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def sign(key_pem, data):
    """Base64 of the root CA key's PSS/SHA-256 signature of data (nvflare.lighter.utils.sign_content)."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    return base64.b64encode(key.sign(data, _pss(), hashes.SHA256())).decode("ascii")


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _read_json(path, what, data=None):
    data = _read(path) if data is None else data
    if data is None:
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise AdminKitError("%s %s is not valid JSON (%s); reinstall the kit (remove it and run the admin role "
                            "again)" % (what, path, exc))
    if not isinstance(value, dict):
        raise AdminKitError("%s %s is not a JSON object" % (what, path))
    return value


def root_key(cert_state):
    """The root CA private key (PEM bytes) from the provisioning state's cert.json, or None."""
    state = _read_json(cert_state, "the provisioning state") if cert_state else None
    pem = (state or {}).get("root_pri_key")
    return pem.encode("ascii") if isinstance(pem, str) and pem else None


def read_installed(dest_startup):
    """(fed_admin.json bytes, signature.json bytes) of an installed kit on this machine (None when missing)."""
    return _read(os.path.join(dest_startup, CONFIG_FILE)), _read(os.path.join(dest_startup, SIGNATURE_FILE))


def plan(src_startup, installed, config, cert_state):
    """What to write into the installed kit's startup/: {"config": bytes or None, "signature": bytes or None,
    "signed": bool, "warning": str or None}. None means the file in place is already right.

    src_startup is the provisioned kit's startup folder on the control node; installed is
    (fed_admin.json bytes, signature.json bytes) of the installed copy (read_installed(), or read on the
    admin host by the action plugin), None for a missing file.

    The signature file is the source kit's with the fed_admin.json entry replaced by one that verifies the
    wanted bytes: the one already installed, else the source kit's, else a new one from the root CA key.
    A kit without signature.json or rootCA.pem (not signed) keeps its files as they are.
    """
    wanted = render(config)
    out = {"config": None, "signature": None, "signed": False, "warning": None}
    dest_config, dest_sig_bytes = installed
    if dest_config != wanted:
        out["config"] = wanted
    src_sigs = _read_json(os.path.join(src_startup, SIGNATURE_FILE), "the kit's signature file")
    cert_pem = _read(os.path.join(src_startup, ROOT_CERT))
    if src_sigs is None or cert_pem is None:
        return out
    dest_sigs = (_read_json("startup/" + SIGNATURE_FILE, "the installed signature file", dest_sig_bytes)
                 if dest_sig_bytes is not None else None) or {}
    sigs = dict(src_sigs)
    for candidate in (dest_sigs.get(CONFIG_FILE), src_sigs.get(CONFIG_FILE)):
        if isinstance(candidate, str) and verifies(cert_pem, wanted, candidate):
            sigs[CONFIG_FILE] = candidate
            break
    else:
        key = root_key(cert_state)
        if key is None:
            out["warning"] = ("%s differs from the provisioned one and the root CA key is not at %s, so it is not "
                              "signed: NVFLARE 2.7.x refuses such an admin kit (INVALID_SIGNATURE). Set "
                              "cert_state to the provisioning state's cert.json." % (CONFIG_FILE, cert_state))
        else:
            sigs[CONFIG_FILE] = sign(key, wanted)
            out["signed"] = True
    if dest_sigs != sigs or dest_sig_bytes is None:
        out["signature"] = json.dumps(sigs).encode("utf-8")
    return out
