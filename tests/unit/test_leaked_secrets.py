"""tests/molecule/leaked_secrets.py, the check the service and federation scenarios run on -vvv --diff output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tests", "molecule", "leaked_secrets.py")
LINES = ["%02d" % i + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0MTIzNDU2Nzg5MA" for i in range(12)]


def _state(tmp_path, lines=LINES):
    state = tmp_path / "state"
    state.mkdir()
    pem = "-----BEGIN RSA PRIVATE KEY-----\n%s\n-----END RSA PRIVATE KEY-----\n"
    (state / "cert.json").write_text(json.dumps({
        "root_pri_key": pem % "\n".join(lines[:6]),
        "participants": [{"name": "site-1", "cert": pem % "\n".join(lines[6:]), "short": "x" * 39}],
    }))
    return str(tmp_path)


def _run(project, out):
    return subprocess.run([sys.executable, SCRIPT, project], input=out, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("out, rc", [
    ("ok: [site-1] => {\"changed\": false}\n" + "x" * 39, 0),
    ("changed: [site-1] => (item=startup/client.key)\n+" + LINES[8] + "\n", 1),  # a line of a participant's key
    ("   " + LINES[0] + "   ", 1),  # a line of the root CA key, indented
    ("-----BEGIN RSA PRIVATE KEY-----", 1),
])
def test_finds_any_line_of_the_state_and_the_marker(tmp_path, out, rc):
    proc = _run(_state(tmp_path), out)
    assert proc.returncode == rc, proc.stdout
    # it says how many, never which
    assert not any(line in proc.stdout for line in LINES)


@pytest.mark.parametrize("out, message", [
    ("nothing", "leaked: 0 of 12 key/certificate lines\n"),
    (LINES[3] + LINES[9], "leaked: 2 of 12 key/certificate lines\n"),
    # the marker is no line of the state: it is named apart, not counted among them
    ("-----BEGIN RSA PRIVATE KEY-----", "leaked: 0 of 12 key/certificate lines, and the PRIVATE KEY marker\n"),
    (LINES[0] + " PRIVATE KEY", "leaked: 1 of 12 key/certificate lines, and the PRIVATE KEY marker\n"),
])
def test_counts_lines_and_names_the_marker_apart(tmp_path, out, message):
    assert _run(_state(tmp_path), out).stdout == message


def test_a_state_too_small_or_missing_is_no_pass(tmp_path):
    assert _run(_state(tmp_path, LINES[:4]), "nothing").returncode == 2
    assert _run(str(tmp_path / "none"), "nothing").returncode == 2
