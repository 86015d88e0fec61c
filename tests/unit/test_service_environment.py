# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nvflare_service_environment: the role's real check (edgefl.nvflare.role_args, as the role's tasks/checks.yml and the
first play of site.yml run it: plugin_utils/_role_input.py) and its real EnvironmentFile template, run by
ansible-playbook on localhost;
the rendered file is read back by /bin/sh, whose quoting rules for what the template writes (single quotes;
double quotes with \\ " ` $ escaped) are systemd's EnvironmentFile rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(ROOT, "roles", "nvflare_service")

GOOD = {
    "quotes": {"TOKEN": "ab'c\"d$e`f\\g ${HOME} %n %%", "PLAIN": "a b  c", "URL": "https://h/x?a=1&b=2#f",
               "EMPTY": "", "_under9": "x"},
    "numbers": {"NUM": 5, "BOOL": True, "FLOAT": 1.5},
    "unicode": {"NAME": "Zürich 東京", "BACKSLASH_END": "c:\\dir\\"},
}
BAD = {
    "newline": ({"HF_TOKEN": "secret-1\nExecStartPre=/bin/sh -c id"}, [], ["HF_TOKEN"]),
    "cr": ({"A": "secret-2\r"}, [], ["A"]),
    "nul": ({"A": "x\u0000secret-3"}, [], ["A"]),
    "escape_tab_del": ({"T": "a\tb", "E": "\u001b[0m", "D": "x\u007f", "OK": "fine"}, [], ["D", "E", "T"]),
    "c1": ({"C": "a\u0085b"}, [], ["C"]),
    "names": ({"1BAD": "v", "A-B": "v", "A B": "v", "GOOD": "v", "": "v"}, ["", "1BAD", "A B", "A-B"], []),
    "both": ({"X=Y": "a\nb"}, ["X=Y"], ["X=Y"]),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("env")
    plays = []
    for case, env in list(GOOD.items()) + [(k, v[0]) for k, v in BAD.items()]:
        plays.append({
            "name": case, "hosts": "localhost", "gather_facts": False,
            "vars_files": [os.path.join(ROLE, "vars", "main.yml")],
            "vars": {"nvflare_service_environment": env, "nvflare_service_unit_name": "nvflare-client.service"},
            "tasks": [{"name": "Check and render", "block": [
                {"name": "Check", "edgefl.nvflare.role_args": {"roles": ["nvflare_service"]}},
                {"name": "Render", "ansible.builtin.template": {
                    "src": os.path.join(ROLE, "templates", "nvflare.env.j2"), "dest": str(tmp / (case + ".env")),
                    "mode": "0600"}},
            ], "rescue": [{"name": "Record", "ansible.builtin.copy": {
                "content": "{{ ansible_failed_result.msg }}", "dest": str(tmp / (case + ".msg")), "mode": "0600"}}]}],
        })
    playbook = tmp / "play.yml"
    playbook.write_text(json.dumps(plays))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                          "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
                          str(playbook)], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return tmp


def sourced(path):
    """The variables /bin/sh sees after reading the file (set -a), as systemd reads an EnvironmentFile."""
    out = subprocess.run(["env", "-i", "/bin/sh", "-c", 'set -a; . "$1"; exec env -0', "sh", str(path)],
                         capture_output=True, check=True).stdout.decode()
    pairs = dict(item.split("=", 1) for item in out.split("\0") if item)
    for noise in ("PWD", "SHLVL", "_", "OLDPWD"):
        pairs.pop(noise, None)
    return pairs


@pytest.mark.parametrize("case", sorted(GOOD))
def test_valid_environment_is_written_exactly(results, case):
    assert not (results / (case + ".msg")).exists()
    path = results / (case + ".env")
    text = path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    # one line per variable, after the comment header: nothing else can appear
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(lines) == len(GOOD[case])
    want = {k: str(v) for k, v in GOOD[case].items()}
    assert sourced(path) == want


@pytest.mark.parametrize("case", sorted(BAD))
def test_invalid_environment_fails_before_any_change(results, case):
    env, bad_names, bad_values = BAD[case]
    assert not (results / (case + ".env")).exists()  # the template never ran
    msg = (results / (case + ".msg")).read_text()
    assert "invalid nvflare_service_environment" in msg and "nothing was changed" in msg
    for name in bad_names:
        assert json.dumps(name) in msg.split("got", 1)[1].split(";", 1)[0]
    if bad_values:
        values_part = msg.split("the values of", 1)[1]
        assert [n for n in sorted(env) if json.dumps(n) in values_part] == sorted(bad_values)
    else:
        assert "the values of" not in msg
    if not bad_names:
        assert "names must match" not in msg
    # never the value itself
    for value in env.values():
        assert "secret" not in msg and (len(value) < 3 or value not in msg)
