# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Role docs from one source: meta/argument_specs.yml.

    python scripts/role_docs.py            write the variable tables into roles/*/README.md, then check
    python scripts/role_docs.py --check    change nothing; exit 1 when a README, defaults/main.yml,
                                           meta/argument_specs.yml or docs/playbooks.md disagree

The table of every entry point of a role (main, torch, uninstall, ...) is written between the two
markers below in the role's README, under "## Variables"; the prose outside them is left alone.
Ansible doc markup (C(), O(), I(), L(), ...) is rendered as Markdown. Defaults are shown as in
defaults/main.yml (what Ansible uses), else as in the spec.

The check also asks, for every role: defaults/main.yml keys == the main entry point's options, key
for key; no internal (__) variable in the spec; every option prefixed with the role name and
described; an option's default in the spec equal to defaults/main.yml; an option listed in several
entry points defined the same way in each. And for the playbooks (site.yml, playbooks/*.yml):
every nvflare_* name they read that is not a role variable is documented in docs/playbooks.md.
And no measured figure (a duration, a percentage, a ratio, a size with decimals) is copied into README.md,
docs/*.md or a role README: those live in dated tables in bench/README.md, and the docs link there.
"""

from __future__ import annotations

import argparse
import difflib
import glob
import json
import os
import re
import sys

import yaml

BEGIN = ("<!-- BEGIN generated from meta/argument_specs.yml by scripts/role_docs.py:"
         " edit the spec, then run `python scripts/role_docs.py` -->")
END = "<!-- END generated from meta/argument_specs.yml -->"
SECTION = "## Variables"
REGEN = "python scripts/role_docs.py"

# --------------------------------------------------------------------------------------------
# Ansible doc markup -> Markdown
# --------------------------------------------------------------------------------------------

# Same semantics as ansible-doc and antsibull-docs-parser: the classic functions (C, I, B, M, U,
# L, R, P) end at the first ")"; the semantic ones (O, V, RV, E) take backslash escapes.
_MARKUP = re.compile(r"\b(?:(HORIZONTALLINE)\b|(RV|[CIBMULRPOVE])\()")
_SEMANTIC = {"O", "V", "RV", "E"}


def parse_markup(text):
    """Split doc markup into parts: ("text", s), ("C", arg), ("L", (text, url)), ("HORIZONTALLINE", None)..."""
    parts = []
    pos = 0
    plain = []
    while pos < len(text):
        m = _MARKUP.search(text, pos)
        if m is None:
            break
        if m.group(1):
            plain.append(text[pos:m.start()])
            parts.append(("text", "".join(plain)))
            plain = []
            parts.append(("HORIZONTALLINE", None))
            pos = m.end()
            continue
        name = m.group(2)
        start = m.end()
        if name in _SEMANTIC:
            arg, i, escaped = [], start, False
            while i < len(text):
                ch = text[i]
                if escaped:
                    arg.append(ch)
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == ")":
                    break
                else:
                    arg.append(ch)
                i += 1
            else:
                i = -1
            value = "".join(arg)
        else:
            i = text.find(")", start)
            value = text[start:i] if i >= 0 else ""
        if i < 0:  # no closing parenthesis: not markup
            plain.append(text[pos:start])
            pos = start
            continue
        plain.append(text[pos:m.start()])
        parts.append(("text", "".join(plain)))
        plain = []
        if name in ("L", "R"):
            label, _sep, target = value.partition(",")
            value = (label.strip(), target.strip())
        parts.append((name, value))
        pos = i + 1
    plain.append(text[pos:])
    parts.append(("text", "".join(plain)))
    return [p for p in parts if p != ("text", "")]


def _plugin_option(value):
    """O(ns.coll.plugin#type:name=value) -> name=value."""
    if "#" in value and ":" in value.split("=", 1)[0]:
        return value.split(":", 1)[1]
    return value


def code(value, table=True):
    """A Markdown code span (pipes escaped for a table cell)."""
    value = str(value)
    fence = "``" if "`" in value else "`"
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    out = "%s%s%s%s%s" % (fence, pad, value, pad, fence)
    return out.replace("|", "\\|") if table else out


def _text(value):
    value = re.sub(r"\s+", " ", value)
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("<", "\\<").replace("*", "\\*")


def render_markup(text):
    """Ansible doc markup -> one line of Markdown for a table cell."""
    out = []
    for kind, value in parse_markup(text):
        if kind == "text":
            out.append(_text(value))
        elif kind in ("C", "V", "E", "M"):
            out.append(code(value))
        elif kind in ("O", "RV"):
            out.append(code(_plugin_option(value)))
        elif kind == "P":
            out.append(code(value.split("#", 1)[0]))
        elif kind == "I":
            out.append("*%s*" % _text(value))
        elif kind == "B":
            out.append("**%s**" % _text(value))
        elif kind == "L":
            out.append("[%s](%s)" % (_text(value[0]), value[1]))
        elif kind == "U":
            out.append("<%s>" % value)
        elif kind == "R":
            out.append(_text(value[0]))
        elif kind == "HORIZONTALLINE":
            out.append("<hr>")
    return "".join(out).strip()


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _yaml_inline(value):
    return yaml.safe_dump(value, default_flow_style=True, width=10 ** 6, sort_keys=False).strip()


def _plain(value):
    """True when a string reads the same without quotes (a Jinja expression counts as plain)."""
    if value.startswith("{{") or value.startswith("{%"):
        return True
    if value == "" or value != value.strip():
        return False
    try:
        return yaml.safe_load(value) == value
    except yaml.YAMLError:
        return False


def render_default(value):
    """A default as in defaults/main.yml, readable in one table cell."""
    if isinstance(value, str):
        if "\n" in value.rstrip("\n"):
            return "<br>".join(code(line) if line.strip() else "" for line in value.rstrip("\n").split("\n"))
        return code(value if _plain(value) else json.dumps(value))
    if isinstance(value, (list, dict)):
        return code(_yaml_inline(value))
    if value is None:
        return code("null")
    if isinstance(value, bool):
        return code("true" if value else "false")
    return code(value)


def render_type(spec):
    typ = spec.get("type", "str")
    if typ == "list" and spec.get("elements"):
        typ = "list of %s" % spec["elements"]
    out = typ
    if spec.get("choices"):
        out += ", one of " + ", ".join(code(c if isinstance(c, str) else _yaml_inline(c)) for c in spec["choices"])
    return out


def _description(spec):
    desc = spec.get("description") or ""
    if isinstance(desc, str):
        desc = [desc]
    return "<br>".join(render_markup(str(d)) for d in desc if str(d).strip())


def _rows(name, spec, defaults, prefix=""):
    full = prefix + name
    if spec.get("required"):
        default = "*required*"
    elif not prefix and name in defaults:
        default = render_default(defaults[name])
    elif "default" in spec:
        default = render_default(spec["default"])
    else:
        default = ""
    description = _description(spec)
    if spec.get("aliases"):
        description += "<br>Aliases: " + ", ".join(code(a) for a in spec["aliases"])
    rows = ["| %s | %s | %s | %s |" % (code(full), render_type(spec), default, description)]
    sub = spec.get("options") or {}
    sep = "[]." if spec.get("type") == "list" else "."
    for sub_name, sub_spec in sub.items():
        rows.extend(_rows(sub_name, sub_spec or {}, defaults, prefix=full + sep))
    return rows


def render_table(options, defaults):
    lines = ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
    for name, spec in (options or {}).items():
        lines.extend(_rows(name, spec or {}, defaults))
    return lines


def _entry_points(specs):
    eps = dict(specs.get("argument_specs") or {})
    order = (["main"] if "main" in eps else []) + [e for e in eps if e != "main"]
    return [(e, eps[e] or {}) for e in order]


def render_block(specs, defaults):
    """The generated part of a role README (markers included)."""
    eps = _entry_points(specs)
    lines = [BEGIN, "",
             "Generated from `meta/argument_specs.yml`, the single source of truth: `defaults/main.yml` matches its "
             "`main` entry point key for key, and `scripts/test.sh docs` fails when this table, the spec or the "
             "defaults disagree.", ""]
    for ep, spec in eps:
        if len(eps) > 1:
            lines.append("### Entry point `%s`" % ep)
            lines.append("")
            short = render_markup(str(spec.get("short_description") or "")).rstrip(".")
            usage = "" if ep == "main" else "`tasks_from: %s`" % ep
            sentence = "%s (%s)" % (short, usage) if short and usage else short or usage
            if sentence:
                lines.extend([sentence + ".", ""])
        if spec.get("options"):
            lines.extend(render_table(spec["options"], defaults))
        else:
            lines.append("No variables.")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def splice(readme, block):
    """README text with its generated block replaced (or placed under "## Variables", or appended)."""
    if BEGIN in readme and END in readme:
        head, rest = readme.split(BEGIN, 1)
        _old, tail = rest.split(END, 1)
        return head + block + tail
    lines = readme.rstrip("\n").split("\n")
    if SECTION in lines:
        start = lines.index(SECTION) + 1
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = lines[end:]
        new = lines[:start] + [""] + block.split("\n") + ([""] + tail if tail else [])
        return "\n".join(new) + "\n"
    return "\n".join(lines + ["", SECTION, ""] + block.split("\n")) + "\n"


# --------------------------------------------------------------------------------------------
# Reading roles
# --------------------------------------------------------------------------------------------


class Role:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path.rstrip("/"))
        self.label = os.path.join("roles", self.name)
        self.problems = []
        self.specs = self._load("meta/argument_specs.yml") or {}
        self.defaults = self._load("defaults/main.yml") or {}
        self.readme_path = os.path.join(path, "README.md")

    def _load(self, rel):
        full = os.path.join(self.path, rel)
        if not os.path.exists(full):
            self.problems.append("%s: %s is missing; every role has one (the docs are built from it)"
                                 % (self.label, rel))
            return None
        try:
            with open(full, encoding="utf-8") as f:
                data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            self.problems.append("%s/%s is not valid YAML: %s" % (self.label, rel, e))
            return None
        if data is not None and not isinstance(data, dict):
            self.problems.append("%s/%s must be a mapping" % (self.label, rel))
            return None
        return data

    def block(self):
        return render_block(self.specs, self.defaults)


def find_roles(root, names=None):
    paths = sorted(p for p in glob.glob(os.path.join(root, "roles", "*")) if os.path.isdir(p))
    if names:
        paths = [p for p in paths if os.path.basename(p) in names]
    return [Role(p) for p in paths]


_COMPARED = ("type", "elements", "choices", "required", "default", "description")


def check_role(role):
    """Problems of one role, each naming the role, the variable and the fix."""
    problems = list(role.problems)
    if role.problems:
        return problems
    where = role.label
    eps = _entry_points(role.specs)
    if not eps:
        return problems + ["%s: meta/argument_specs.yml has no argument_specs entry point; add `main`" % where]
    names = {ep: list((spec.get("options") or {}).keys()) for ep, spec in eps}
    main = names.get("main")
    if main is None and not os.path.exists(os.path.join(role.path, "tasks", "main.yml")):
        # an internal role with entry points only (nvflare_common): its defaults are the inputs of those
        main = sorted({key for keys in names.values() for key in keys})
    if main is None:
        problems.append("%s: meta/argument_specs.yml has no `main` entry point; add one listing every variable "
                        "of defaults/main.yml" % where)
        main = []
    for key in role.defaults:
        if key.startswith("__"):
            problems.append("%s: %s is an internal variable in defaults/main.yml; internals go in vars/main.yml"
                            % (where, key))
        elif key not in main:
            problems.append("%s: %s is set in defaults/main.yml but has no entry in meta/argument_specs.yml "
                            "(entry point main); add it there with type and description, then run `%s` "
                            "to add its README row" % (where, key, REGEN))
    required = {key for _ep, spec in eps for key, opt in (spec.get("options") or {}).items()
                if (opt or {}).get("required")}
    for key in main:
        if key not in role.defaults and not key.startswith("__") and key not in required:
            problems.append("%s: %s is in meta/argument_specs.yml (entry point main) but not in defaults/main.yml; "
                            "give it its default in defaults/main.yml (or remove it from the spec)" % (where, key))
    first = {}
    for ep, spec in eps:
        for key, opt in (spec.get("options") or {}).items():
            opt = opt or {}
            if key.startswith("__"):
                problems.append("%s: %s (entry point %s) is an internal variable; internals are not documented "
                                "in meta/argument_specs.yml, remove it (or rename it without the __ prefix if "
                                "users may set it)" % (where, key, ep))
                continue
            if not key.startswith(role.name + "_"):
                problems.append("%s: %s (entry point %s) is not prefixed with the role name; rename it %s_..."
                                % (where, key, ep, role.name))
            if not _description(opt):
                problems.append("%s: %s (entry point %s) has no description in meta/argument_specs.yml; add one"
                                % (where, key, ep))
            if "default" in opt and key in role.defaults and opt["default"] != role.defaults[key]:
                problems.append("%s: %s (entry point %s) has default %s in meta/argument_specs.yml but %s in "
                                "defaults/main.yml; make the spec say what defaults/main.yml sets"
                                % (where, key, ep, json.dumps(opt["default"]), json.dumps(role.defaults[key])))
            if key in first:
                ep0, opt0 = first[key]
                diff = [f for f in _COMPARED if opt.get(f) != opt0.get(f)]
                if diff:
                    problems.append("%s: %s is defined differently in entry points %s and %s (%s); make them equal "
                                    "(a YAML anchor keeps them so)" % (where, key, ep0, ep, ", ".join(diff)))
            else:
                first[key] = (ep, opt)
    return problems


def markup_warnings(role):
    """Descriptions whose classic markup ends early: C(f()) stops at the first ")" (as in ansible-doc)."""
    out, seen = [], set()
    for ep, spec in _entry_points(role.specs):
        for key, opt in (spec.get("options") or {}).items():
            desc = (opt or {}).get("description") or ""
            for text in [desc] if isinstance(desc, str) else desc:
                for kind, value in parse_markup(str(text)):
                    if kind in "CIBMU" and value.count("(") > value.count(")") and (key, value) not in seen:
                        seen.add((key, value))
                        out.append("%s: %s (entry point %s): %s(%s) ends at its first ')'; rephrase, or use V() "
                                   "and write \\( \\) inside it" % (role.label, key, ep, kind, value))
    return out


def check_readme(role):
    """A problem when the README's generated block is not what the generator writes."""
    if role.problems:
        return []
    if not os.path.exists(role.readme_path):
        return ["%s/README.md is missing; run `%s` to create its variable table" % (role.label, REGEN)]
    with open(role.readme_path, encoding="utf-8") as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        return ["%s/README.md has no generated variable table (no BEGIN/END generated markers under %r); run `%s`"
                % (role.label, SECTION, REGEN)]
    want = splice(text, role.block())
    if want == text:
        return []
    diff = list(difflib.unified_diff(text.splitlines(), want.splitlines(), "README.md (now)",
                                     "README.md (from the spec)", n=0, lineterm=""))
    shown = "\n".join("    " + d for d in diff[:12]) + ("\n    ..." if len(diff) > 12 else "")
    return ["%s/README.md: the variable table differs from meta/argument_specs.yml and defaults/main.yml; run "
            "`%s` and commit the README\n%s" % (role.label, REGEN, shown)]


# --------------------------------------------------------------------------------------------
# Playbook knobs
# --------------------------------------------------------------------------------------------

_NAME = re.compile(r"(?<![\w.])nvflare_[a-z0-9_]*[a-z0-9]\b")


def playbook_names(root):
    """{name: [files]} of every nvflare_* name in site.yml and playbooks/*.yml (and playbooks/vars)."""
    found = {}
    files = [os.path.join(root, "site.yml")] + sorted(glob.glob(os.path.join(root, "playbooks", "*.yml"))) + \
        sorted(glob.glob(os.path.join(root, "playbooks", "vars", "*.yml")))
    for path in files:
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            for name in _NAME.findall(f.read()):
                found.setdefault(name, set()).add(os.path.relpath(path, root))
    return {k: sorted(v) for k, v in found.items()}


def check_playbook_docs(root, roles):
    """Every nvflare_* name the playbooks use that no role documents must be in docs/playbooks.md."""
    doc = os.path.join(root, "docs", "playbooks.md")
    known = {r.name for r in roles}
    for role in roles:
        for _ep, spec in _entry_points(role.specs):
            known.update((spec.get("options") or {}).keys())
    names = {k: v for k, v in playbook_names(root).items() if k not in known}
    if not names:
        return []
    if not os.path.exists(doc):
        return ["docs/playbooks.md is missing; it documents the playbook variables %s" % ", ".join(sorted(names))]
    with open(doc, encoding="utf-8") as f:
        documented = set(re.findall(r"`(nvflare_[a-z0-9_]+)`", f.read()))
    return ["docs/playbooks.md: %s (read by %s) is not documented; add a row with the playbook, its default and "
            "what it does" % (name, ", ".join(files)) for name, files in sorted(names.items()) if name not in documented]


# --------------------------------------------------------------------------------------------
# Figures: measured numbers live in bench/README.md, the other docs link there
# --------------------------------------------------------------------------------------------

_FIGURE = re.compile(r"(?<![\w.])~?\d+(?:[.,]\d+)?(?:[–-]\d+(?:[.,]\d+)?)?\s?(?:s|sec|seconds|min|minutes|ms|%|×)(?!\w)"
                     # a size with decimals is a measurement ("512.9 MiB"); a whole one a setting ("4 GiB of swap")
                     r"|(?<![\w.])~?\d+[.,]\d+(?:[–-]\d+(?:[.,]\d+)?)?\s?(?:[KMGT]i?B|kB)(?:/s)?(?!\w)")
# a limit or a setting, not a measurement: "within 60 s", "every 3 s", "at most 5 %"
_LIMIT = re.compile(r"(?:within|every|after|timeout|at most|up to|under|≤|<=|>=|<|>)\s*$", re.I)


def figure_files(root):
    files = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md"))) + \
        sorted(glob.glob(os.path.join(root, "roles", "*", "README.md")))
    return [f for f in files if os.path.exists(f)]


def check_figures(root):
    """Measured figures (durations, percentages, ratios, sizes with decimals) copied into the README, docs/ or a
    role README."""
    problems = []
    for path in figure_files(root):
        rel = os.path.relpath(path, root)
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                for m in _FIGURE.finditer(line):
                    if _LIMIT.search(line[:m.start()]):
                        continue
                    problems.append("%s:%d: %r looks like a measured figure; keep it in a dated table in "
                                    "bench/README.md and link there (a limit or setting reads 'within N s', "
                                    "'every N s')" % (rel, lineno, m.group(0)))
    return problems


# --------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when anything disagrees")
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        help="collection root (default: this checkout)")
    parser.add_argument("roles", nargs="*", help="only these roles (default: every role)")
    args = parser.parse_args(argv)
    roles = find_roles(args.root, args.roles)
    if not roles:
        print("no roles found under %s/roles" % args.root, file=sys.stderr)
        return 2
    problems = []
    for role in roles:
        problems.extend(check_role(role))
        if not args.check and not role.problems:
            old = ""
            if os.path.exists(role.readme_path):
                with open(role.readme_path, encoding="utf-8") as f:
                    old = f.read()
            new = splice(old or "# edgefl.nvflare.%s\n" % role.name, role.block())
            if new != old:
                with open(role.readme_path, "w", encoding="utf-8") as f:
                    f.write(new)
                print("wrote %s/README.md" % role.label)
        problems.extend(check_readme(role))
    if not args.roles:
        problems.extend(check_playbook_docs(args.root, roles))
        problems.extend(check_figures(args.root))
    for role in roles:
        for w in markup_warnings(role):
            print("WARNING: " + w, file=sys.stderr)
    for p in problems:
        print("ERROR: " + p, file=sys.stderr)
    if problems:
        print("%d problem(s) in the role docs; see above for the fix of each" % len(problems), file=sys.stderr)
        return 1
    print("role docs: %d roles, README tables, defaults and argument_specs agree; playbook variables documented; "
          "no measured figure outside bench/README.md" % len(roles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
