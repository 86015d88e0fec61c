# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""scripts/role_docs.py: the markup renderer, the README tables and the docs check, run on real files."""

from __future__ import annotations

import glob
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "role_docs.py")

_spec = importlib.util.spec_from_file_location("role_docs", SCRIPT)
role_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_docs)


@pytest.mark.parametrize("markup, markdown", [
    ("C(x)", "`x`"),
    ("V(wheelhouse)", "`wheelhouse`"),
    ("O(nvflare_venv_python)", "`nvflare_venv_python`"),
    ("O(x=y)", "`x=y`"),
    ("O(edgefl.nvflare.provision#module:workspace)", "`workspace`"),
    ("RV(kits)", "`kits`"),
    ("E(HOME)", "`HOME`"),
    ("I(only) this", "*only* this"),
    ("B(before)", "**before**"),
    ("M(edgefl.nvflare.provision)", "`edgefl.nvflare.provision`"),
    ("P(edgefl.nvflare.participants#filter)", "`edgefl.nvflare.participants`"),
    ("L(NVFLARE docs,https://nvflare.readthedocs.io)", "[NVFLARE docs](https://nvflare.readthedocs.io)"),
    ("L(text, https://x.example/a)", "[text](https://x.example/a)"),
    ("U(https://github.com/NVIDIA/NVFlare)", "<https://github.com/NVIDIA/NVFlare>"),
    ("R(Troubleshooting,troubleshooting)", "Troubleshooting"),
    ("one HORIZONTALLINE two", "one <hr> two"),
    # a table cell: pipes escaped, inside code spans too
    ("C(IPV6=yes|no) in /etc/default/ufw", "`IPV6=yes\\|no` in /etc/default/ufw"),
    ("a|b", "a\\|b"),
    # semantic markup takes backslash escapes; classic markup ends at the first ")"
    (r"V(torch.cuda.is_available\(\))", "`torch.cuda.is_available()`"),
    ("C(f()) is true", "`f(`) is true"),
    ("C(`x`)", "`` `x` ``"),
    # not markup: no closing parenthesis, or part of a word
    ("C(open", "C(open"),
    ("ABC(x)", "ABC(x)"),
    ("plain <dir> text", "plain \\<dir> text"),
    ("several\n  lines   folded", "several lines folded"),
    ("Wheels land in C(<cache>/<arch>-py<XY>/); M(a.b.c) and O(o) too.",
     "Wheels land in `<cache>/<arch>-py<XY>/`; `a.b.c` and `o` too."),
])
def test_render_markup(markup, markdown):
    assert role_docs.render_markup(markup) == markdown


def _descriptions():
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))):
        with open(path, encoding="utf-8") as f:
            specs = yaml.safe_load(f)["argument_specs"]
        for spec in specs.values():
            for opt in (spec.get("options") or {}).values():
                desc = opt.get("description") or []
                yield from [desc] if isinstance(desc, str) else desc


def test_parser_agrees_with_antsibull_docs_parser():
    """Every description of every role is split into the same parts as Ansible's reference parser."""
    ref = pytest.importorskip("antsibull_docs_parser.parser")
    kinds = {"CodePart": "C", "OptionValuePart": "V", "OptionNamePart": "O", "ReturnValuePart": "RV",
             "EnvVariablePart": "E", "ItalicPart": "I", "BoldPart": "B", "ModulePart": "M", "URLPart": "U",
             "LinkPart": "L", "RSTRefPart": "R", "PluginPart": "P", "HorizontalLinePart": "HORIZONTALLINE", "TextPart": "text"}
    texts = list(_descriptions())
    assert len(texts) > 50
    for text in texts:
        want = []
        for part in ref.parse(text, ref.Context())[0]:
            kind = kinds[type(part).__name__]
            if kind == "text" and not part.text:
                continue
            value = {"C": "text", "I": "text", "B": "text", "M": "fqcn", "U": "url", "V": "value", "E": "name",
                     "text": "text"}.get(kind)
            want.append(kind if value is None else (kind, getattr(part, value)))
        got = [k if k in ("O", "RV", "L", "R", "P", "HORIZONTALLINE") else (k, v) for k, v in role_docs.parse_markup(text)]
        assert got == want, text


@pytest.mark.parametrize("value, cell", [
    ("/usr/bin/python3", "`/usr/bin/python3`"),
    ("", '`""`'),
    ("3.10", '`"3.10"`'),
    ("yes", '`"yes"`'),
    ("{{ nvflare_admin_port | default(8003) }}", "`{{ nvflare_admin_port \\| default(8003) }}`"),
    ("{{ [] if m == 'wheelhouse' else ['python3-venv'] }}", "`{{ [] if m == 'wheelhouse' else ['python3-venv'] }}`"),
    (True, "`true`"),
    (False, "`false`"),
    (-1, "`-1`"),
    (None, "`null`"),
    ([], "`[]`"),
    ({}, "`{}`"),
    (["ufw", "procps"], "`[ufw, procps]`"),
    ([{"name": "admin@nvidia.com", "role": "project_admin"}], "`[{name: admin@nvidia.com, role: project_admin}]`"),
    ("line one\nline two | x\n", "`line one`<br>`line two \\| x`"),
])
def test_render_default(value, cell):
    assert role_docs.render_default(value) == cell


@pytest.mark.parametrize("spec, cell", [
    ({}, "str"),
    ({"type": "bool"}, "bool"),
    ({"type": "list", "elements": "dict"}, "list of dict"),
    ({"type": "list"}, "list"),
    ({"type": "str", "choices": ["deny", "reject"]}, "str, one of `deny`, `reject`"),
])
def test_render_type(spec, cell):
    assert role_docs.render_type(spec) == cell


# --------------------------------------------------------------------------------------------
# A temporary collection with one role, checked and generated by the real script
# --------------------------------------------------------------------------------------------

SPECS = """\
---
argument_specs:
  main:
    short_description: Demo role
    options:
      demo_port:
        type: int
        description: Port; defaults to the shared O(nvflare_admin_port).
        default: "{{ nvflare_admin_port | default(8003) }}"
      demo_entries:
        type: list
        elements: dict
        description:
          - Entries, each C({name, address}).
          - Second paragraph.
        default: []
      demo_mode:
        type: str
        choices: [a, b]
        description: Mode.
        default: a
  uninstall:
    short_description: Remove what the role made
    options:
      demo_port:
        type: int
        description: Port; defaults to the shared O(nvflare_admin_port).
        default: "{{ nvflare_admin_port | default(8003) }}"
"""

DEFAULTS = """\
---
demo_port: "{{ nvflare_admin_port | default(8003) }}"
demo_entries: []
demo_mode: a
"""

README = """\
# edgefl.nvflare.demo

Prose that stays.

## Variables

Old hand-written table.

| Variable |
|---|

## Testing

Also stays.
"""


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(textwrap.dedent(text))


@pytest.fixture
def coll(tmp_path):
    role = tmp_path / "roles" / "demo"
    _write(str(role / "meta" / "argument_specs.yml"), SPECS)
    _write(str(role / "defaults" / "main.yml"), DEFAULTS)
    _write(str(role / "README.md"), README)
    _write(str(tmp_path / "site.yml"), "---\n- name: Site\n  hosts: all\n  tasks: []\n")
    return tmp_path


def run(coll, *args):
    proc = subprocess.run([sys.executable, SCRIPT, "--root", str(coll)] + list(args),
                          capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def readme(coll):
    with open(os.path.join(str(coll), "roles", "demo", "README.md"), encoding="utf-8") as f:
        return f.read()


def test_generate_then_check_passes(coll):
    rc, out = run(coll, "--check")
    assert rc == 1 and "roles/demo/README.md has no generated variable table" in out
    rc, out = run(coll)
    assert rc == 0, out
    text = readme(coll)
    assert text.startswith("# edgefl.nvflare.demo\n\nProse that stays.\n\n## Variables\n\n" + role_docs.BEGIN)
    assert text.endswith(role_docs.END + "\n\n## Testing\n\nAlso stays.\n")
    assert "Old hand-written table" not in text
    assert ("| `demo_port` | int | `{{ nvflare_admin_port \\| default(8003) }}` | "
            "Port; defaults to the shared `nvflare_admin_port`. |") in text
    assert "| `demo_entries` | list of dict | `[]` | Entries, each `{name, address}`.<br>Second paragraph. |" in text
    assert "| `demo_mode` | str, one of `a`, `b` | `a` | Mode. |" in text
    assert "### Entry point `main`" in text
    assert "### Entry point `uninstall`\n\nRemove what the role made (`tasks_from: uninstall`).\n" in text
    rc, out = run(coll, "--check")
    assert rc == 0, out
    # idempotent: a second generation changes nothing
    rc, _out = run(coll)
    assert rc == 0 and readme(coll) == text


def test_variable_added_to_defaults_only_fails(coll):
    """The issue's acceptance test: a new default without spec entry and README row fails the check."""
    assert run(coll)[0] == 0
    with open(os.path.join(str(coll), "roles", "demo", "defaults", "main.yml"), "a", encoding="utf-8") as f:
        f.write("demo_new_knob: 5\n")
    rc, out = run(coll, "--check")
    assert rc == 1
    assert ("roles/demo: demo_new_knob is set in defaults/main.yml but has no entry in meta/argument_specs.yml "
            "(entry point main); add it there with type and description, then run `python scripts/role_docs.py` "
            "to add its README row") in out


def test_spec_entry_without_readme_row_fails(coll):
    assert run(coll)[0] == 0
    path = os.path.join(str(coll), "roles", "demo", "meta", "argument_specs.yml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        new = "      demo_new_knob:\n        type: int\n        description: New.\n        default: 5\n"
        f.write(text.replace("  uninstall:", new + "  uninstall:"))
    with open(os.path.join(str(coll), "roles", "demo", "defaults", "main.yml"), "a", encoding="utf-8") as f:
        f.write("demo_new_knob: 5\n")
    rc, out = run(coll, "--check")
    assert rc == 1
    assert "roles/demo/README.md: the variable table differs" in out
    assert "+| `demo_new_knob` | int | `5` | New. |" in out
    assert run(coll)[0] == 0
    assert run(coll, "--check")[0] == 0


def test_hand_edited_table_fails(coll):
    assert run(coll)[0] == 0
    path = os.path.join(str(coll), "roles", "demo", "README.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace("| Mode. |", "| Mode (edited by hand). |"))
    rc, out = run(coll, "--check")
    assert rc == 1 and "roles/demo/README.md: the variable table differs" in out


@pytest.mark.parametrize("old, new, message", [
    ("demo_mode: a\n", "", "demo_mode is in meta/argument_specs.yml (entry point main) but not in defaults/main.yml"),
    ("demo_mode: a\n", "demo_mode: b\n",
     'demo_mode (entry point main) has default "a" in meta/argument_specs.yml but "b" in defaults/main.yml'),
    ("demo_mode: a\n", "demo_mode: a\n__demo_internal: 1\n",
     "__demo_internal is an internal variable in defaults/main.yml; internals go in vars/main.yml"),
])
def test_defaults_disagree(coll, old, new, message):
    path = os.path.join(str(coll), "roles", "demo", "defaults", "main.yml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new))
    rc, out = run(coll, "--check")
    assert rc == 1 and "roles/demo: " + message in out


@pytest.mark.parametrize("old, new, message", [
    ("      demo_mode:\n        type: str\n", "      __demo_mode:\n        type: str\n",
     "__demo_mode (entry point main) is an internal variable"),
    ("        description: Mode.\n", "",
     "demo_mode (entry point main) has no description in meta/argument_specs.yml; add one"),
    ("      demo_mode:\n        type: str\n", "      other_mode:\n        type: str\n",
     "other_mode (entry point main) is not prefixed with the role name"),
])
def test_specs_disagree(coll, old, new, message):
    path = os.path.join(str(coll), "roles", "demo", "meta", "argument_specs.yml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert old in text
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new))
    rc, out = run(coll, "--check")
    assert rc == 1 and "roles/demo: " + message in out


def test_entry_points_drift(coll):
    """An option copied into another entry point must stay defined the same way."""
    path = os.path.join(str(coll), "roles", "demo", "meta", "argument_specs.yml")
    with open(path, encoding="utf-8") as f:
        head, tail = f.read().split("  uninstall:")
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + "  uninstall:" + tail.replace("type: int", "type: str"))
    rc, out = run(coll, "--check")
    assert rc == 1
    assert "roles/demo: demo_port is defined differently in entry points main and uninstall (type)" in out


def test_broken_classic_markup_warns(coll):
    path = os.path.join(str(coll), "roles", "demo", "meta", "argument_specs.yml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace("description: Mode.", "description: Fails unless C(f()) is true."))
    run(coll)
    rc, out = run(coll, "--check")
    assert rc == 0
    assert "WARNING: roles/demo: demo_mode (entry point main): C(f() ends at its first ')'" in out


def test_playbook_variables_must_be_documented(coll):
    _write(str(coll / "playbooks" / "wait.yml"), """\
        ---
        - name: Wait
          hosts: localhost
          tasks:
            - name: Wait
              ansible.builtin.pause:
                seconds: "{{ nvflare_wait_timeout | default(180) }}"
              when: demo_mode is defined and nvflare_workspace is defined
        """)
    assert run(coll)[0] == 1
    rc, out = run(coll, "--check")
    assert rc == 1
    assert ("docs/playbooks.md is missing; it documents the playbook variables nvflare_wait_timeout, "
            "nvflare_workspace") in out
    _write(str(coll / "docs" / "playbooks.md"), "| `nvflare_workspace` | all | | the workspace |\n")
    rc, out = run(coll, "--check")
    assert rc == 1
    assert ("docs/playbooks.md: nvflare_wait_timeout (read by playbooks/wait.yml) is not documented; add a row "
            "with the playbook, its default and what it does") in out
    assert "nvflare_workspace (read by" not in out
    with open(str(coll / "docs" / "playbooks.md"), "a", encoding="utf-8") as f:
        f.write("| `nvflare_wait_timeout` | wait.yml | `180` | seconds |\n")
    assert run(coll, "--check")[0] == 0


@pytest.mark.parametrize("line, figure", [
    ("`molecule/venv` 6 min 50 s under load", "'6 min'"),
    ("is part of `make test`: 9.1–9.8 min on two cores", "'9.1–9.8 min'"),
    ("It adds about 0.03 s to the playbook", "'0.03 s'"),
    ("5% of what `nvflare provision` needs", "'5%'"),
    ("add 1 at N = 500 1.46× slower", "'1.46×'"),
    ("the ~90 s x86 image build", "'~90 s'"),
    ("clients back within 60 s", None),
    ("polled every 3 s", None),
    ("`nvflare_service_wait_timeout` of 120 seconds", "'120 seconds'"),
    ("timeout 120 s", None),
    ("exposure at most 5.0, ports 8002/8003, keys 0600, 4 GiB of swap", None),
    ("see [make test](bench/README.md#make-test)", None),
    ("the server used 512.9 MiB", "'512.9 MiB'"),
    ("a wheelhouse of ~1.2 GB", "'~1.2 GB'"),
    ("copied at 3.5 MB/s", "'3.5 MB/s'"),
    ("a swap file of 4096 MiB on 2-4 GB boards", None),
])
def test_copied_figures_fail(coll, line, figure):
    _write(str(coll / "docs" / "guide.md"), "# Guide\n\nSome text.\n%s\n" % line)
    assert run(coll)[0] == (0 if figure is None else 1)
    rc, out = run(coll, "--check")
    if figure is None:
        assert rc == 0, out
    else:
        assert rc == 1
        assert ("docs/guide.md:4: %s looks like a measured figure; keep it in a dated table in bench/README.md "
                "and link there" % figure) in out
