#!/bin/sh
# Probe of the firewall state (edgefl.nvflare.nvflare_firewall). Read-only, except with --install.
# Usage: probe.sh [--install] STATE_DIR MARKER [PACKAGE...]
# Prints sections separated by a line "--edgefl-section--", in the order the edgefl.nvflare.ufw_state
# filter reads them: dpkg status of each PACKAGE, `ufw status verbose`, the IPv6 and default-policy lines
# of /etc/default/ufw, `systemctl is-enabled ufw.service`, `ufw show added`, a downloaded apt package list
# (if any), the entries of STATE_DIR, the content of STATE_DIR/MARKER, the SSH_CONNECTION of the live SSH
# session (its own environment, else the nearest parent process's: become/sudo drops it from the probe's own,
# the login shell under sshd still has it; empty when Ansible does not connect over SSH).
# --install (a fresh host; one task instead of five, issue #15): first installs the PACKAGEs dpkg does not show
# installed with apt-get (refreshing the package lists when none is younger than an hour), and adds what that
# installed (dependencies included) to STATE_DIR/MARKER, which the role's uninstall entry point purges; then
# probes, and prints one more section: the packages it installed. apt-get's output is shown only when it fails
# (exit 1). EDGEFL_APT_LISTS: the package lists directory (default /var/lib/apt/lists).
install=0
if [ "${1:-}" = --install ]; then
  install=1
  shift
fi
state_dir=$1
marker=$2
shift 2
installed_now=
if [ "$install" = 1 ]; then
  umask 022
  lists=${EDGEFL_APT_LISTS:-/var/lib/apt/lists}
  work=$(mktemp -d) || exit 1
  trap 'rm -rf "$work"' EXIT
  fail() {
    echo "$1 failed (exit $2); its last lines:"
    tail -n 20 "$work/log"
    exit 1
  }
  installed() {
    # shellcheck disable=SC2016 # dpkg-query's own ${...} format fields
    dpkg-query -W -f='${Package}\t${Status}\n' 2>/dev/null | awk -F '\t' '$2 == "install ok installed" { print $1 }' | sort -u
  }
  # one dpkg list serves both: which packages are missing, and what apt adds to it
  installed >"$work/before"
  missing=
  for spec in "$@"; do
    grep -qxF "${spec%%[=:<>]*}" "$work/before" || missing="$missing $spec"
  done
  if [ -n "$missing" ]; then
    if [ -z "$(find "$lists" -maxdepth 1 -name '*_Packages*' -mmin -60 -print -quit 2>/dev/null)" ]; then
      apt-get -q -o DPkg::Lock::Timeout=120 update >"$work/log" 2>&1 || fail "apt-get update" "$?"
    fi
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef \
      -o Dpkg::Options::=--force-confold install $missing >"$work/log" 2>&1 || fail "apt-get install$missing" "$?"
    installed >"$work/after"
    installed_now=$(comm -13 "$work/before" "$work/after")
    if [ -n "$installed_now" ]; then
      mkdir -p "$state_dir" && chmod 0755 "$state_dir" || exit 1
      { cat "$state_dir/$marker" 2>/dev/null; echo "$installed_now"; } | sed '/^[[:space:]]*$/d' | sort -u \
        >"$state_dir/.$marker.tmp" && chmod 0644 "$state_dir/.$marker.tmp" &&
        mv -f "$state_dir/.$marker.tmp" "$state_dir/$marker" || exit 1
    fi
  fi
fi
sep() { echo '--edgefl-section--'; }
if [ "$#" -gt 0 ]; then
  # shellcheck disable=SC2016 # dpkg-query's own ${...} format fields
  dpkg-query -W -f='${Package}\t${Status}\n' "$@" 2>/dev/null
fi
sep
ufw status verbose 2>/dev/null
sep
grep -E '^(IPV6|DEFAULT_INPUT_POLICY|DEFAULT_OUTPUT_POLICY)=' /etc/default/ufw 2>/dev/null
sep
systemctl is-enabled ufw.service 2>/dev/null
sep
ufw show added 2>/dev/null
sep
find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null
sep
# -1: over SSH the script module runs the probe on a terminal, where ls would print columns
ls -A1 "$state_dir" 2>/dev/null
sep
cat "$state_dir/$marker" 2>/dev/null
sep
ssh_connection=${SSH_CONNECTION:-}
pid=$$
while [ -z "$ssh_connection" ] && [ "${pid:-0}" -gt 1 ]; do
  ssh_connection=$(tr '\000' '\n' < "/proc/$pid/environ" 2>/dev/null | sed -n 's/^SSH_CONNECTION=//p' | head -n 1)
  pid=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
done
[ -n "$ssh_connection" ] && echo "$ssh_connection"
if [ "$install" = 1 ]; then
  sep
  [ -z "$installed_now" ] || echo "$installed_now"
fi
exit 0
