# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: bootstrap_plan
short_description: Parse the report of the bootstrap script (a Python for Ansible on the host)
version_added: 0.3.0
positional: _input
author:
  - edgefl maintainers (@edgefl)
description:
  - C(playbooks/bootstrap.yml) runs C(playbooks/files/bootstrap.sh) on every host with the C(raw) action (no Python
    needed on the host). The script finds a Python that this ansible-core can run modules with, installs one from
    the distribution when there is none (apply mode), and prints C(EDGEFL key=value) lines. This filter turns the
    registered C(raw) result into the decision the playbook acts on.
  - Lines that do not start with C(EDGEFL ) (login banners, C(sudo) noise, carriage returns of a tty) are ignored.
    A result without a C(status) line (no C(/bin/sh), C(sudo) asking for a password, connection trouble) is a
    failure whose message carries the exit code and the end of standard error.
options:
  _input:
    description: The registered result of the C(raw) task (a dictionary with C(stdout), C(stderr), C(rc)), or the
      script's standard output as a string.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Find or install a Python for Ansible
  ansible.builtin.raw: "sh -c {{ lookup('ansible.builtin.file', 'bootstrap.sh') | quote }} bootstrap.sh apply 3.8"
  register: probe
  changed_when: (probe | edgefl.nvflare.bootstrap_plan).changed
  failed_when: false
  check_mode: false

- name: Use it for the rest of the run
  ansible.builtin.set_fact:
    ansible_python_interpreter: "{{ (probe | edgefl.nvflare.bootstrap_plan).interpreter }}"
  # {'status': 'installed', 'interpreter': '/usr/bin/python3.8', 'version': '3.8', 'packages': ['python3.8'], ...}
"""

RETURN = r"""
_value:
  description: What the script found or did.
  type: dict
  contains:
    status:
      description: >-
        V(ok) (a usable Python was there), V(verified) (the user's C(ansible_python_interpreter) works),
        V(would_install) (check mode: C(packages) would be installed), V(installed), V(unsupported) (no usable
        Python and no known package for this distribution), V(failed).
      type: str
    interpreter:
      description: Path of the Python to use as C(ansible_python_interpreter) (empty unless ok, verified or installed).
      type: str
    version:
      description: Its version as V(MAJOR.MINOR).
      type: str
    packages:
      description: Distribution packages installed, or that would be installed.
      type: list
      elements: str
    distro:
      description: C(ID VERSION_ID) from C(/etc/os-release) (only reported when no usable Python was found).
      type: str
    found:
      description: Every Python looked at, as C(PATH VERSION) (V(unknown) when it did not run).
      type: list
      elements: str
    changed:
      description: True when packages were installed (or would be, in check mode).
      type: bool
    failed:
      description: True for V(unsupported), V(failed) and a script that did not report.
      type: bool
    msg:
      description: One line for the user.
      type: str
"""

from ansible.errors import AnsibleFilterError

STATUSES = ("ok", "verified", "would_install", "installed", "unsupported", "failed")
_PREFIX = "EDGEFL "


def _text(value):
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def bootstrap_plan(result):
    """Registered raw result (or stdout) of bootstrap.sh -> decision dict (see RETURN)."""
    if isinstance(result, dict):
        stdout = _text(result.get("stdout"))
        stderr = _text(result.get("stderr"))
        rc = result.get("rc")
    elif isinstance(result, (str, bytes)):
        stdout, stderr, rc = _text(result), "", None
    else:
        raise AnsibleFilterError("edgefl.nvflare.bootstrap_plan: give the registered result of the raw task, got %s"
                                 % type(result).__name__)
    plan = {"status": "", "interpreter": "", "version": "", "packages": [], "distro": "", "found": [],
            "msg": ""}
    for line in stdout.replace("\r", "").splitlines():
        if not line.startswith(_PREFIX) or "=" not in line:
            continue
        key, _sep, value = line[len(_PREFIX):].partition("=")
        key = key.strip()
        if key == "found":
            plan["found"].append(value)
        elif key == "packages":
            plan["packages"] = value.split()
        elif key in plan:
            plan[key] = value
    status = plan["status"]
    if status not in STATUSES:
        tail = " | ".join(stderr.replace("\r", "").strip().splitlines()[-5:]) or "nothing"
        plan["status"] = "failed"
        plan["msg"] = ("the bootstrap script did not report (%s; exit code %s; standard error: %s)"
                       % ("unknown status %r" % status if status else "no status line", rc, tail))
    elif status in ("ok", "verified", "installed") and not plan["interpreter"]:
        plan["status"] = "failed"
        plan["msg"] = "the bootstrap script reported %s without an interpreter" % status
    elif status == "would_install" and not plan["packages"]:
        plan["status"] = "failed"
        plan["msg"] = "the bootstrap script would install but named no package"
    elif not plan["msg"]:
        plan["msg"] = {
            "ok": "Python %s at %s" % (plan["version"], plan["interpreter"]),
            "verified": "ansible_python_interpreter=%s is Python %s" % (plan["interpreter"], plan["version"]),
            "would_install": "check mode: would install %s with apt-get (%s has no usable Python)"
                             % (" ".join(plan["packages"]), plan["distro"] or "the host"),
            "installed": "installed %s with apt-get: Python %s at %s"
                         % (" ".join(plan["packages"]), plan["version"], plan["interpreter"]),
        }.get(status, status)
    if status == "failed" and plan["packages"] and stderr.strip():
        plan["msg"] += " | " + " | ".join(stderr.replace("\r", "").strip().splitlines()[-5:])
    plan["changed"] = plan["status"] in ("would_install", "installed")
    plan["failed"] = plan["status"] in ("unsupported", "failed")
    return plan


class FilterModule(object):
    def filters(self):
        return {"bootstrap_plan": bootstrap_plan}
