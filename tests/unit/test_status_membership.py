# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Status logic behind membership: unknown clients, certificate expiry, the running-job guard, disable/enable."""

from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.edgefl.nvflare.plugins.module_utils import _flare_status as fs
from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import FlareError

NOW = datetime.datetime(2026, 12, 1, 18, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize(
    "connected, expected, unknown",
    [
        (["site-1", "site-2"], ["site-1", "site-2"], []),
        (["site-1", "site-3"], ["site-1", "site-2"], ["site-3"]),
        (["site-3", "site-1", "site-9"], ["site-1"], ["site-3", "site-9"]),
        (["site-1", "site-3"], [], []),  # nothing expected: nothing to compare with
        ([], ["site-1"], []),
    ],
)
def test_unknown_clients(connected, expected, unknown):
    assert fs.unknown_clients(connected, expected) == unknown


def test_unknown_warning_names_the_removal_playbook():
    text = fs.unknown_warning(["site-3", "site-9"])
    assert "site-3, site-9" in text and "nvflare_remove_clients=site-3,site-9" in text


@pytest.mark.parametrize(
    "not_after, days_left, ok",
    [
        ("2027-12-01T18:00:00Z", 365, True),
        ("2026-12-31T18:00:00Z", 30, True),
        ("2026-12-31T17:59:59Z", 29, False),
        ("2026-12-02T00:00:00+00:00", 0, False),
        ("2026-11-30T18:00:00Z", -1, False),
    ],
)
def test_cert_expiry_days_left_and_threshold(not_after, days_left, ok):
    rows, warnings = fs.cert_expiry({"site-1": {"type": "client", "not_after": not_after}}, 30, now=NOW)
    assert rows == [dict(name="site-1", type="client", not_after=rows[0]["not_after"], days_left=days_left, ok=ok)]
    assert len(warnings) == (0 if ok else 1)
    if days_left < 0:
        assert "EXPIRED" in warnings[0]
    elif not ok:
        assert "renew_certs.yml" in warnings[0] and "below 30" in warnings[0]


def test_cert_expiry_root_ca_points_at_rotation_and_sorts():
    certs = {
        "site-2": {"type": "client", "not_after": "2030-01-01T00:00:00Z"},
        "rootCA": {"type": "root_ca", "not_after": "2026-12-10T00:00:00Z"},
        "server1": {"type": "server", "not_after": "2030-01-01T00:00:00Z", "days_left": 5},
        "gone": {"type": "client"},  # no date: not a row
    }
    rows, warnings = fs.cert_expiry(certs, 30, now=NOW)
    assert [r["name"] for r in rows] == ["rootCA", "server1", "site-2"]
    assert rows[1]["days_left"] == 1126  # recomputed, not copied from the (old) provision run
    assert len(warnings) == 1 and "rootCA" in warnings[0] and "rotate_ca.yml" in warnings[0]


def _write_cert(path, days, ca=False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, os.path.basename(path))])
    start = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def test_kit_certificates_reads_real_kits(tmp_path):
    layout = {
        "server1": ("fed_server.json", "server.crt", 10),
        "site-1": ("fed_client.json", "client.crt", 100),
        "relay-1": ("fed_relay.json", "client.crt", 200),
        "admin@nvidia.com": ("fed_admin.json", "client.crt", 300),
    }
    for name, (marker, crt, days) in layout.items():
        startup = tmp_path / name / "startup"
        startup.mkdir(parents=True)
        (startup / marker).write_text("{}")
        _write_cert(str(startup / crt), days)
        _write_cert(str(startup / "rootCA.pem"), 3650, ca=True)
    (tmp_path / "not-a-kit").mkdir()
    certs = fs.kit_certificates(str(tmp_path))
    assert {n: c["type"] for n, c in certs.items()} == {
        "server1": "server", "site-1": "client", "relay-1": "relay", "admin@nvidia.com": "admin", "rootCA": "root_ca",
    }
    rows, warnings = fs.cert_expiry(certs, 30)
    days = {r["name"]: r["days_left"] for r in rows}
    assert days["server1"] in (9, 10) and days["site-1"] in (99, 100) and days["rootCA"] >= 3649
    assert len(warnings) == 1 and "server1" in warnings[0]


@pytest.mark.parametrize(
    "status, busy, ids",
    [
        ({"reachable": False, "running_jobs": []}, False, []),
        ({"reachable": True, "running_jobs": []}, False, []),
        ({"reachable": True}, False, []),
        ({"reachable": True, "running_jobs": [{"job_id": "j1", "app_name": "app"}, {"job_id": "j2"}]}, True, ["j1", "j2"]),
    ],
)
def test_job_guard(status, busy, ids):
    verdict = fs.job_guard(status, 600)
    assert verdict["busy"] is busy and verdict["job_ids"] == ids
    if busy:
        assert "j1, j2" in verdict["msg"] and "600s" in verdict["msg"]
        assert "-e nvflare_allow_restart_during_job=true" in verdict["msg"]


START = 1794268800.0  # 2026-11-10T00:00Z, the server's start time (epoch), as check_status reports it
AFTER, BEFORE = "2026-11-15T10:00:00+00:00", "2026-11-01T09:00:00+01:00"


@pytest.mark.parametrize(
    "jobs, live, start, finishing",
    [
        ([], [], START, []),
        ([{"job_id": "j1", "status": "RUNNING", "submit_time": AFTER}], [], START, ["j1"]),
        ([{"job_id": "j1", "status": "DISPATCHED", "submit_time": AFTER}], [], START, ["j1"]),
        ([{"job_id": "j1", "status": "RUNNING", "submit_time": AFTER}], ["j1"], START, []),  # counted as running
        ([{"job_id": "j1", "status": "SUBMITTED", "submit_time": AFTER}], [], START, []),  # queued: survives
        ([{"job_id": "j1", "status": "FINISHED:COMPLETED", "submit_time": AFTER}], [], START, []),
        ([{"job_id": "j1", "status": "RUNNING", "submit_time": BEFORE}], [], START, []),  # leftover of a restart
        ([{"job_id": "j1", "status": "RUNNING", "submit_time": "?"}], [], START, ["j1"]),  # unknown: the safe side
        ([{"job_id": "j1", "status": "RUNNING", "submit_time": BEFORE}], [], None, ["j1"]),
        ([{"job_id": "j1", "status": "RUNNING", "submit_time": "1794268790.5"}], [], str(START), []),
    ],
)
def test_finishing_jobs(jobs, live, start, finishing):
    assert fs.finishing_jobs(jobs, live, start) == finishing


def test_job_guard_counts_finishing_jobs_once():
    status = {"reachable": True, "running_jobs": [{"job_id": "j1"}], "finishing_jobs": ["j2", "j1"]}
    verdict = fs.job_guard(status, 0)
    assert verdict["busy"] and verdict["job_ids"] == ["j1", "j2"] and "being finalized" in verdict["msg"]


class _Unreachable:
    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = 0

    def connect(self):
        self.calls += 1
        if self.answers.pop(0) == "down":
            raise fs.ServerUnreachable("connection timed out")
        return "session"


@pytest.mark.parametrize(
    "answers, attempts, calls, reachable",
    [(["down", "down", "up"], 3, 3, True), (["down"] * 3, 3, 3, False), (["down", "up"], 1, 1, False), (["up"], 3, 1, True)],
)
def test_connect_retries(monkeypatch, answers, attempts, calls, reachable):
    pauses = []
    monkeypatch.setattr(fs.time, "sleep", pauses.append)
    client = _Unreachable(answers)
    if reachable:
        fs.connect(client, attempts)
    else:
        with pytest.raises(fs.ServerUnreachable):
            fs.connect(client, attempts)
    assert client.calls == calls and len(pauses) == calls - 1


class FakeClient:
    """Answers like NVFLARE 2.9's ServerEngine.disable_clients / enable_clients for one name."""

    def __init__(self, disabled=(), fail=()):
        self.disabled = set(disabled)
        self.fail = set(fail)

    def disable_client(self, name):
        if name in self.fail:
            return [{"client_name": name, "state": "error", "error": "disk full"}]
        already = name in self.disabled
        self.disabled.add(name)
        return [{"client_name": name, "state": "disabled", "already_disabled": already}]

    def enable_client(self, name):
        was = name in self.disabled
        self.disabled.discard(name)
        return [{"client_name": name, "state": "enabled", "was_disabled": was}]


def test_set_clients_reports_only_real_changes():
    client = FakeClient(disabled={"site-3"})
    done = fs.set_clients(client, ["site-3", "site-4"], ["site-5"])
    assert done == {"disabled": ["site-4"], "enabled": []}
    assert fs.set_clients(client, ["site-3", "site-4"], []) == {"disabled": [], "enabled": []}
    assert fs.set_clients(client, [], ["site-4"]) == {"disabled": [], "enabled": ["site-4"]}
    assert client.disabled == {"site-3"}


def test_set_clients_fails_on_a_server_error():
    with pytest.raises(FlareError, match="could not disable client site-4: disk full"):
        fs.set_clients(FakeClient(fail={"site-4"}), ["site-4"], [])
