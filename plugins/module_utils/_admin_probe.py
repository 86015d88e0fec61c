# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This module_utils file is private to the edgefl.nvflare collection. It is not
# part of the public API and may change without notice; do not use it from other collections.

"""Why an admin session could not open: the FLARE API says only "cannot connect to server for N seconds", the same
words for a stopped server, a dropped port and a server whose certificate another root CA signed (a CA rotation that
reached one side, a kit of another workspace). One TCP connect and one TLS handshake with the admin kit's own
certificates tell these apart; the job and status modules add the answer to their "unreachable" message.
"""

from __future__ import annotations

import json
import os
import socket
import ssl


def admin_target(admin_kit):
    """(host, port, startup dir, admin section) of an admin kit's fed_admin.json; None when it names no server."""
    startup = os.path.join(admin_kit, "startup")
    try:
        with open(os.path.join(startup, "fed_admin.json"), encoding="utf-8") as f:
            admin = json.load(f).get("admin") or {}
    except (OSError, ValueError, AttributeError):
        return None
    host, port = admin.get("host"), admin.get("port")
    if not host or not port:
        # NVFLARE before 2.7: the overseer agent's sp_end_point "<server>:<fed_learn_port>:<admin_port>"
        end_point = str(((admin.get("overseer_agent") or {}).get("args") or {}).get("sp_end_point") or "")
        parts = end_point.split(":")
        if len(parts) != 3:
            return None
        host, port = parts[0], parts[2]
    try:
        port = int(port)
    except (TypeError, ValueError):
        return None
    return str(host), port, startup, admin


def _tls_context(startup, admin):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # NVFLARE checks the server's certificate against the kit's root CA, not the name dialled
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(os.path.join(startup, admin.get("ca_cert") or "rootCA.pem"))
    cert = os.path.join(startup, admin.get("client_cert") or "client.crt")
    key = os.path.join(startup, admin.get("client_key") or "client.key")
    if os.path.isfile(cert) and os.path.isfile(key):
        ctx.load_cert_chain(cert, key)
    return ctx


def diagnose(admin_kit, timeout=5.0):
    """One sentence on why the server named in the admin kit cannot be reached; '' when the probe finds nothing
    wrong (the server accepts the kit's TLS) or cannot tell."""
    target = admin_target(admin_kit)
    if target is None:
        return ""
    host, port, startup, admin = target
    where = "%s:%d" % (host, port)
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        return ("%r (the server's name in the admin kit's fed_admin.json) does not resolve on this machine (%s): "
                "give it an /etc/hosts entry or a DNS record, or point the kit at the server's address "
                "(nvflare_admin_server_host)"
                % (host, e.strerror or e))
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return ("nothing accepts connections on %s (connection refused): the NVFLARE server is not running or not "
                "listening yet, or listens on another admin port than the kit's" % where)
    except socket.timeout:
        return ("%s (%s) did not answer a TCP connect within %ss: a firewall drops the admin port on the way, or the "
                "address is not the server's" % (where, addresses[0][4][0], timeout))
    except OSError as e:
        return "a TCP connect to %s failed: %s" % (where, e.strerror or e)
    with sock:
        if str(admin.get("connection_security") or "").lower() == "clear":
            return ""
        try:
            ctx = _tls_context(startup, admin)
            with ctx.wrap_socket(sock, server_hostname=host) as tls:
                tls.settimeout(timeout)
        except ssl.SSLCertVerificationError as e:
            return ("the server at %s answers, but its certificate is not signed by this admin kit's root CA (%s: "
                    "%s): the server's kit and the admin kit come from different provisionings (another workspace, "
                    "or a CA rotation that reached only one of them); deploy the server's kit again (site.yml, or "
                    "finish rotate_ca.yml) or use the admin kit of the server's provisioning"
                    % (where, admin.get("ca_cert") or "rootCA.pem", e.verify_message or e.reason))
        except (ssl.SSLError, OSError):
            return ""
    return ""
