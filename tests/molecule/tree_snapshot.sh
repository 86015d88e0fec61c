#!/bin/sh
# Print the state of a host's /etc, /opt and /var/lib, one line per path: type, mode, owner, group and,
# for regular files, a SHA-256 of the content. The uninstall test compares a host after
# playbooks/uninstall.yml with the same listing taken when the container was fresh (prepare).
set -eu
find /etc /opt /var/lib -xdev \( -type f -o -type d -o -type l \) -printf '%p\t%y\t%m\t%u\t%g\n' | sort |
  while IFS="$(printf '\t')" read -r path type mode user group; do
    sum=-
    if [ "$type" = f ]; then sum=$(sha256sum "$path" | cut -c1-64); fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$path" "$type" "$mode" "$user" "$group" "$sum"
  done
