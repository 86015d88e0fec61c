# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: ufw_state
short_description: Read the nvflare_firewall probe and say what ufw needs (install, rules, policies, uninstall)
version_added: 0.1.0
positional: _input
author:
  - edgefl maintainers (@edgefl)
description:
  - Parses the output of the C(edgefl.nvflare.nvflare_firewall) role's read-only probe (C(files/probe.sh) - the
    C(dpkg-query) status of the packages, C(ufw status verbose), the C(IPV6) and default-policy lines of
    C(/etc/default/ufw), C(systemctl is-enabled ufw.service), C(ufw show added), a downloaded apt package list,
    the role's state directory and its package marker; after C(probe.sh --install), the packages that install
    added) and compares it with the wanted settings.
  - Returns only the work that is not provably done. A rule counts as present when C(ufw status verbose) of an
    active ufw shows its IPv4 line with the rule's comment and, for source V(any) with IPv6 on, its C((v6))
    line; anything the output cannot confirm (an inactive ufw's rules to open, a source that ufw prints
    differently such as a /32 as a plain address) is returned as work, so the caller never skips a change.
  - The firewall converges to exactly the wanted rules - every rule that C(ufw show added) lists with the
    comment O(ssh_comment) or a comment starting with O(nvflare_comment) and that is not wanted (an old port, a
    source network no longer listed, a port the host no longer opens) is returned in RV(_value.rules_to_delete),
    as C(ufw show added) spells it. Rules without these comments (the user's own) are never touched.
  - When C(ufw show added) cannot be read, closing a port (O(open_ports=false)) is returned for the wanted
    ports, as the rules cannot be listed.
  - The SSH rule allows O(ssh_port) when it is set, else the port of the live SSH connection (the server port
    of C(SSH_CONNECTION), which the probe reads from its own or its parent processes' environment), else
    O(ssh_port_fallback). The live port is always allowed too, so that the run never closes its own connection.
  - When ufw is not installed (a fresh host, or check mode before the install) no ufw work is returned.
  - For the role's C(uninstall) entry point it lists the rules whose comment starts with O(nvflare_comment)
    (parsed from C(ufw show added)) and the packages the role recorded as installed by itself.
options:
  _input:
    description: The standard output of the probe script.
    type: str
    required: true
  packages:
    description: The packages the role installs.
    type: list
    elements: str
    default: [ufw, procps]
  ipv6:
    description: The wanted C(IPV6) switch of C(/etc/default/ufw).
    type: bool
    default: true
  allow_ssh:
    description: Allow SSH.
    type: bool
    default: true
  ssh_port:
    description: The SSH port to allow; V(null) means the port of the live connection (see above).
    type: raw
    default: null
  ssh_port_fallback:
    description: The SSH port to allow when O(ssh_port) is V(null) and the probe found no live SSH connection.
    type: raw
    default: 22
  ssh_sources:
    description: Source networks allowed to reach SSH; empty means V(any).
    type: list
    elements: str
    default: []
  ports:
    description: The NVFLARE ports (duplicates are opened or closed once).
    type: list
    elements: raw
    default: []
  sources:
    description: Source networks allowed to reach the NVFLARE ports; empty means V(any).
    type: list
    elements: str
    default: []
  open_ports:
    description: Open the NVFLARE ports (V(true)) or close them (V(false)).
    type: bool
    default: false
  default_incoming:
    description: The wanted default incoming policy (outgoing is always V(allow)).
    type: str
    default: deny
  ssh_comment:
    description: The comment of the SSH rule.
    type: str
    default: edgefl ssh
  nvflare_comment:
    description: The comment prefix of the NVFLARE port rules (the port follows after a space).
    type: str
    default: edgefl nvflare
  marker:
    description: The file name, in the role's state directory, listing the packages the role installed.
    type: str
    default: nvflare_firewall.packages
"""

EXAMPLES = r"""
- name: Open what is missing
  community.general.ufw:
    rule: allow
    port: "{{ item.port }}"
    proto: "{{ item.proto }}"
    from_ip: "{{ item.from_ip }}"
    comment: "{{ item.comment }}"
  loop: "{{ (probe.stdout | edgefl.nvflare.ufw_state(ports=[8002, 8003], open_ports=true)).rules_to_add }}"
"""

RETURN = r"""
_value:
  description: The parsed state and the work to do.
  type: dict
  contains:
    packages_missing:
      description: Wanted packages that C(dpkg-query) does not show as C(install ok installed).
      type: list
      elements: str
    packages_ok:
      description: Every wanted package is installed (the ufw work below is computed only then).
      type: bool
    apt_lists_present:
      description: A downloaded apt package list exists.
      type: bool
    installed_now:
      description: The packages that C(probe.sh --install) installed in this run (its last section; apt's
        dependencies included), empty for the read-only probe.
      type: list
      elements: str
    active:
      description: "C(ufw status) says C(Status: active)."
      type: bool
    ufw_usable:
      description: C(ufw show added) could be read (ufw is installed and runs).
      type: bool
    settings:
      description: The C(IPV6), C(DEFAULT_INPUT_POLICY) and C(DEFAULT_OUTPUT_POLICY) values of C(/etc/default/ufw).
      type: dict
    ipv6_setting_change:
      description: The C(IPV6) value to write (V(yes) or V(no)), or V(null) when it is already so.
      type: str
    rules_to_add:
      description: Allow rules to add, SSH first - each C({port, proto, from_ip, comment}).
      type: list
      elements: dict
    rules_to_delete:
      description: Rules of this collection to delete (not wanted any more), parsed as in RV(_value.added_rules).
      type: list
      elements: dict
    ssh_ports:
      description: The SSH ports the rules allow (strings), the chosen one first.
      type: list
      elements: str
    live_ssh_port:
      description: The server port of the live SSH connection, or V(null) when there is none (local, podman...).
      type: str
    policies_to_set:
      description: Default policies to set - each C({direction, policy}).
      type: list
      elements: dict
    enable:
      description: ufw must be enabled.
      type: bool
    enable_at_boot:
      description: C(ufw.service) must be enabled at boot.
      type: bool
    configure_needed:
      description: Any of C(ipv6_setting_change), C(rules_to_add), C(rules_to_delete) or C(policies_to_set) has work
        (the role runs its rule tasks only then).
      type: bool
    added_rules:
      description: Every rule of C(ufw show added), parsed - C({rule, direction, interface, from_ip, from_port,
        to_ip, to_port, proto, app, route, comment, command}).
      type: list
      elements: dict
    marker_present:
      description: The role's package marker exists (the role installed packages on this host).
      type: bool
    installed_by_role:
      description: The packages listed in the marker.
      type: list
      elements: str
    state_dir_entries:
      description: The names in the role's state directory.
      type: list
      elements: str
    uninstall:
      description: What the C(uninstall) entry point does - C(disable) (the role installed ufw and it is active),
        C(purge) (the packages the role installed), C(rules_to_delete) (rules commented O(nvflare_comment) on a
        ufw the role did not install), C(remove_marker), C(remove_state_dir) (the marker is its only entry).
      type: dict
"""

import ipaddress
import re
import shlex

from ansible.errors import AnsibleFilterError

SEPARATOR = "--edgefl-section--"
SECTIONS = ("dpkg", "status", "settings", "boot", "added", "apt_lists", "state_dir", "marker", "ssh", "installed")
POLICY_WORDS = {"deny": "DROP", "reject": "REJECT", "allow": "ACCEPT"}
RULE_ACTIONS = ("allow", "deny", "reject", "limit")


def split_sections(stdout):
    """Probe stdout -> {section name: text}; missing sections are empty."""
    if stdout is None:
        stdout = ""
    if not isinstance(stdout, str):
        raise AnsibleFilterError("edgefl.nvflare.ufw_state: the input must be the stdout of the probe, got %s"
                                 % type(stdout).__name__)
    # The script module runs the probe on a terminal over SSH (become without pipelining): every line then ends
    # in CRLF, which hid every section after the first one, so a run that changes nothing re-applied each ufw
    # rule and policy (ok, but seconds a run; issue #15).
    parts = stdout.replace("\r\n", "\n").split(SEPARATOR + "\n")
    return {name: (parts[i] if i < len(parts) else "") for i, name in enumerate(SECTIONS)}


def _pkg_name(spec):
    """The dpkg package name of an apt package spec (name, name=version, name:arch)."""
    return re.split(r"[=:<>]", str(spec).strip(), maxsplit=1)[0]


def parse_dpkg(text, packages):
    """Wanted packages that dpkg-query (-f '${Package}\\t${Status}') does not show installed."""
    installed = set()
    for line in text.splitlines():
        name, _sep, status = line.partition("\t")
        if status.strip() == "install ok installed":
            installed.add(name.strip())
    return [p for p in packages if _pkg_name(p) not in installed]


def parse_settings(text):
    """KEY=value lines of /etc/default/ufw -> dict (surrounding double quotes removed)."""
    settings = {}
    for line in text.splitlines():
        key = re.match(r"^([A-Z_0-9]+)=", line)
        if not key:
            continue
        value = re.match(r'^[A-Z_0-9]+="?([^"]*)"?$', line)
        settings[key.group(1)] = value.group(1) if value else line
    return settings


def parse_added_line(line):
    """One `ufw show added` line -> dict, or None when it is no rule line."""
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    if len(words) < 3 or words[0] != "ufw":
        return None
    rule = {"rule": None, "route": False, "direction": None, "interface": None, "from_ip": "any", "from_port": None,
            "to_ip": "any", "to_port": None, "proto": "any", "app": None, "comment": None, "command": line.strip()}
    i = 1
    if words[i] == "route":
        rule["route"] = True
        i += 1
    if i >= len(words) or words[i] not in RULE_ACTIONS:
        return None
    rule["rule"] = words[i]
    i += 1
    if i < len(words) and words[i] in ("in", "out"):
        rule["direction"] = words[i]
        i += 1
        if i + 1 < len(words) and words[i] == "on":
            rule["interface"] = words[i + 1]
            i += 2
    if i < len(words) and words[i] in ("log", "log-all"):
        i += 1
    rest = words[i:]
    if "comment" in rest:
        at = rest.index("comment")
        rule["comment"] = " ".join(rest[at + 1:])
        rest = rest[:at]
    if rest and rest[0] not in ("from", "to", "proto"):
        # simple syntax: ufw allow PORT[/PROTO] | APP; anything else is a form this parser does not know
        if len(rest) != 1:
            return None
        target = rest[0]
        port, _slash, proto = target.partition("/")
        if re.match(r"^[0-9][0-9,:]*$", port):
            rule["to_port"] = port
            rule["proto"] = proto or "any"
        else:
            rule["app"] = target
        return rule
    side = "to"
    j = 0
    while j < len(rest):
        word = rest[j]
        arg = rest[j + 1] if j + 1 < len(rest) else None
        if word == "from" and arg is not None:
            rule["from_ip"] = arg
        elif word == "to" and arg is not None:
            rule["to_ip"] = arg
        elif word == "port" and arg is not None:
            rule["to_port" if side == "to" else "from_port"] = arg
        elif word == "app" and arg is not None:
            rule["app"] = arg
        elif word == "proto" and arg is not None:
            rule["proto"] = arg
        else:
            return None
        if word in ("from", "to"):
            side = word
        j += 2
    return rule


def parse_added(text):
    """`ufw show added` -> (its lines, parsed rules), or (None, []) when it could not be read."""
    lines = text.splitlines()
    if not any(line.startswith("Added user rules") for line in lines):
        return None, []
    return lines, [r for r in (parse_added_line(line) for line in lines) if r is not None]


def _status_has_rule(status_lines, port, source, comment, ipv6):
    """The allow rule is active: its IPv4 line and, for source any with IPv6 on, its (v6) line."""
    src = "Anywhere" if source == "any" else re.escape(source)
    v4 = re.compile(r"^%s/tcp +ALLOW IN +%s +# %s$" % (re.escape(port), src, re.escape(comment)))
    if not any(v4.match(line) for line in status_lines):
        return False
    if source != "any" or not ipv6:
        return True
    v6 = re.compile(r"^%s/tcp [(]v6[)] +ALLOW IN +Anywhere [(]v6[)] +# %s$" % (re.escape(port), re.escape(comment)))
    return any(v6.match(line) for line in status_lines)


def live_ssh_port(text):
    """The server port of the probe's SSH_CONNECTION ("client_ip client_port server_ip server_port"), or None."""
    for line in (text or "").splitlines():
        words = line.split()
        if len(words) == 4 and re.match(r"^[0-9]{1,5}$", words[3]) and 1 <= int(words[3]) <= 65535:
            return str(int(words[3]))
    return None


def _port(value, name):
    try:
        port = int(str(value).strip())
    except (TypeError, ValueError):
        port = 0
    if not 1 <= port <= 65535:
        raise AnsibleFilterError("edgefl.nvflare.ufw_state: %s must be a TCP port between 1 and 65535, got %r"
                                 % (name, value))
    return str(port)


def ssh_ports(ssh_port, live_port, fallback):
    """The SSH ports to allow: the chosen one (ssh_port, else the live one, else fallback), then the live one."""
    chosen = _port(ssh_port, "ssh_port") if ssh_port not in (None, "") else live_port or _port(fallback, "ssh_port_fallback")
    return [chosen] + ([live_port] if live_port and live_port != chosen else [])


def norm_source(value):
    """A source as ufw keeps it: any, a plain address for a full-length prefix, else network/prefix."""
    text = str(value).strip()
    if text.lower() in ("", "any", "anywhere"):
        return "any"
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return text
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)


def _rule_key(rule):
    """(comment, port, proto, source) of a simple allow rule as the role adds it, or None for any other rule."""
    if (rule["rule"] != "allow" or rule["route"] or rule["direction"] not in (None, "in") or rule["interface"]
            or rule["app"] or rule["from_port"] or rule["to_ip"] != "any" or not rule["to_port"]):
        return None
    return (rule["comment"], rule["to_port"], rule["proto"], norm_source(rule["from_ip"]))


def ours(rule, ssh_comment, nvflare_comment):
    """The rule carries a comment of this collection."""
    comment = rule.get("comment") or ""
    return comment in (ssh_comment, nvflare_comment) or comment.startswith(nvflare_comment + " ")


def _close_rule(port, source, comment):
    """A rule to delete when `ufw show added` cannot be read, shaped like a parsed added rule."""
    return {"rule": "allow", "route": False, "direction": None, "interface": None, "from_ip": source,
            "from_port": None, "to_ip": "any", "to_port": port, "proto": "tcp", "app": None, "comment": comment,
            "command": "ufw allow from %s to any port %s proto tcp comment '%s'" % (source, port, comment)}


def _bool(value, name):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    raise AnsibleFilterError("edgefl.nvflare.ufw_state: %s must be a boolean, got %r" % (name, value))


def ufw_state(stdout, packages=("ufw", "procps"), ipv6=True, allow_ssh=True, ssh_port=None, ssh_sources=(),
              ports=(), sources=(), open_ports=False, default_incoming="deny", ssh_comment="edgefl ssh",
              nvflare_comment="edgefl nvflare", marker="nvflare_firewall.packages", ssh_port_fallback=22):
    """Probe stdout + wanted settings -> parsed state and the work to do (see RETURN)."""
    ipv6 = _bool(ipv6, "ipv6")
    allow_ssh = _bool(allow_ssh, "allow_ssh")
    open_ports = _bool(open_ports, "open_ports")
    if default_incoming not in POLICY_WORDS:
        raise AnsibleFilterError("edgefl.nvflare.ufw_state: default_incoming must be one of %s, got %r"
                                 % (", ".join(sorted(POLICY_WORDS)), default_incoming))
    sec = split_sections(stdout)
    packages = list(packages or ())
    missing = parse_dpkg(sec["dpkg"], packages)
    packages_ok = len(missing) == 0
    status_lines = sec["status"].splitlines()
    active = "Status: active" in status_lines
    settings = parse_settings(sec["settings"])
    added_lines, added_rules = parse_added(sec["added"])
    state_dir_entries = [line for line in sec["state_dir"].splitlines() if line.strip()]
    marker_present = marker in state_dir_entries
    installed_by_role = [line.strip() for line in sec["marker"].splitlines() if line.strip()] if marker_present else []
    live_port = live_ssh_port(sec["ssh"])
    wanted_ssh_ports = ssh_ports(ssh_port, live_port, ssh_port_fallback)

    want_ipv6 = "yes" if ipv6 else "no"
    ssh_sources = list(ssh_sources or ()) or ["any"]
    sources = list(sources or ()) or ["any"]
    unique_ports = []
    for port in ports or ():
        if str(port) not in unique_ports:
            unique_ports.append(str(port))

    state = {
        "packages_missing": missing,
        "packages_ok": packages_ok,
        "apt_lists_present": sec["apt_lists"].strip() != "",
        "installed_now": [line.strip() for line in sec["installed"].splitlines() if line.strip()],
        "active": active,
        "ufw_usable": added_lines is not None,
        "settings": settings,
        "ipv6_setting_change": None,
        "rules_to_add": [],
        "rules_to_delete": [],
        "policies_to_set": [],
        "enable": False,
        "enable_at_boot": False,
        "added_rules": added_rules,
        "marker_present": marker_present,
        "installed_by_role": installed_by_role,
        "state_dir_entries": state_dir_entries,
        "ssh_ports": wanted_ssh_ports,
        "live_ssh_port": live_port,
    }

    if packages_ok:
        if settings.get("IPV6", "") != want_ipv6:
            state["ipv6_setting_change"] = want_ipv6
        wanted = set()
        if allow_ssh:
            for port in wanted_ssh_ports:
                for source in ssh_sources:
                    wanted.add((ssh_comment, port, "tcp", norm_source(source)))
                    if not (active and _status_has_rule(status_lines, port, source, ssh_comment, ipv6)):
                        state["rules_to_add"].append({"port": port, "proto": "tcp", "from_ip": source,
                                                      "comment": ssh_comment})
        for port in unique_ports:
            comment = "%s %s" % (nvflare_comment, port)
            for source in sources:
                if open_ports:
                    wanted.add((comment, port, "tcp", norm_source(source)))
                    if not (active and _status_has_rule(status_lines, port, source, comment, ipv6)):
                        state["rules_to_add"].append({"port": port, "proto": "tcp", "from_ip": source,
                                                      "comment": comment})
                    continue
                if added_lines is not None:
                    continue  # the rules ufw keeps are known: the loop below deletes what is not wanted
                # `ufw show added` unreadable: closing is skipped only when the running firewall shows no
                # rule for the port
                if active and not any(re.match(r"^%s/tcp " % re.escape(port), line) for line in status_lines):
                    continue
                state["rules_to_delete"].append(_close_rule(port, source, comment))
        # exactly the wanted rules: every rule of ours that ufw keeps and is not wanted goes
        seen = set()
        for rule in added_rules:
            if not ours(rule, ssh_comment, nvflare_comment) or _rule_key(rule) in wanted:
                continue
            if rule["command"] not in seen:
                seen.add(rule["command"])
                state["rules_to_delete"].append(rule)
        for direction, policy in (("incoming", default_incoming), ("outgoing", "allow")):
            if active:
                shown = re.compile(r"^Default:.*\b%s \(%s\)" % (re.escape(policy), re.escape(direction)))
                if any(shown.match(line) for line in status_lines):
                    continue
            else:
                key = "DEFAULT_INPUT_POLICY" if direction == "incoming" else "DEFAULT_OUTPUT_POLICY"
                if settings.get(key, "") == POLICY_WORDS[policy]:
                    continue
            state["policies_to_set"].append({"direction": direction, "policy": policy})
        state["enable"] = not active
        state["enable_at_boot"] = sec["boot"].strip() != "enabled"

    state["configure_needed"] = bool(state["ipv6_setting_change"] is not None or state["rules_to_add"]
                                     or state["rules_to_delete"] or state["policies_to_set"])
    ufw_ours = "ufw" in installed_by_role
    usable = added_lines is not None
    state["uninstall"] = {
        "disable": ufw_ours and usable and active,
        "purge": installed_by_role,
        "rules_to_delete": [] if ufw_ours or not usable else [
            r for r in added_rules if (r["comment"] or "").startswith(nvflare_comment + " ")
            or r["comment"] == nvflare_comment],
        "remove_marker": marker_present,
        "remove_state_dir": marker_present and state_dir_entries == [marker],
    }
    return state


class FilterModule:
    def filters(self):
        return {"ufw_state": ufw_state}
