#!/bin/sh
# Molecule's dependency step (.config/molecule/config.yml): make the SSH key the scenarios reach their
# containers with, once per user: ~/.cache/edgefl/molecule-ssh/id_ed25519 (the path the base config names).
# A throwaway key of the test containers only (tests/molecule/podman_ssh_proxy.py puts the public half in
# each container). Two scenarios may start at once (make test's two lanes): flock.
set -eu
dir=$HOME/.cache/edgefl/molecule-ssh
key=$dir/id_ed25519
mkdir -p "$dir"
chmod 700 "$dir"
exec 9>"$dir/.lock"
flock 9
if [ ! -s "$key" ] || [ ! -s "$key.pub" ]; then
  rm -f "$key" "$key.pub"
  ssh-keygen -q -t ed25519 -N '' -C edgefl-molecule -f "$key"
  echo "made the molecule SSH key $key"
fi
