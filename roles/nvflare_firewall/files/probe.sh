#!/bin/sh
# Read-only probe of the firewall state (edgefl.nvflare.nvflare_firewall); it changes nothing.
# Usage: probe.sh STATE_DIR MARKER [PACKAGE...]
# Prints sections separated by a line "--edgefl-section--", in the order the edgefl.nvflare.ufw_state
# filter reads them: dpkg status of each PACKAGE, `ufw status verbose`, the IPv6 and default-policy lines
# of /etc/default/ufw, `systemctl is-enabled ufw.service`, `ufw show added`, a downloaded apt package list
# (if any), the entries of STATE_DIR, the content of STATE_DIR/MARKER, the SSH_CONNECTION of the live SSH
# session (its own environment, else the nearest parent process's: become/sudo drops it from the probe's own,
# the login shell under sshd still has it; empty when Ansible does not connect over SSH).
state_dir=$1
marker=$2
shift 2
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
exit 0
