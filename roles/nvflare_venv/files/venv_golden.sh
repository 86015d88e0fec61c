#!/bin/sh
# The golden venv (edgefl.nvflare.nvflare_venv, tasks/pip.yml): one host of a group installs the venv with pip and
# packs it; the control node keeps the archive; the other hosts of the group unpack it instead of running pip.
#   venv_golden.sh pack VENV DIR
#     Packs VENV (which pip just filled) into a new DIR/golden-<pid>-<time>.tar.gz and prints its path.
#   venv_golden.sh unpack ARCHIVE VENV VERSION
#     Unpacks ARCHIVE next to VENV, checks that its python imports nvflare VERSION on this host, then puts it in
#     place of VENV (an empty venv this run created), notes the archive's name in VENV/.edgefl-golden and prints
#     "nvflare VERSION". ARCHIVE is removed either way.
#     Exit 3 (and a reason on stdout) when the golden venv cannot be used here: the role installs with pip instead.
#     Nothing of VENV changes then.
set -eu
usage() {
  echo "usage: $0 pack VENV DIR | unpack ARCHIVE VENV VERSION" >&2
  exit 2
}
[ "$#" -ge 1 ] || usage
case $1 in
pack)
  [ "$#" -eq 3 ] || usage
  venv=$2 dir=$3
  [ -f "$venv/.edgefl-requirements" ] || {
    echo "$venv has no .edgefl-requirements: pip did not install the pinned version, nothing to pack" >&2
    exit 1
  }
  mkdir -p "$dir"
  out="$dir/golden-$$-$(date +%s).tar.gz"
  # gzip -1: about a third of the venv's size for little CPU, packing and unpacking (bench/README.md, "cold path")
  tar -C "$(dirname "$venv")" -cf - "$(basename "$venv")" | gzip -1 >"$out.tmp"
  # world-readable (no secret in it): the control node fetches it without become
  chmod 0644 "$out.tmp"
  mv -f "$out.tmp" "$out"
  echo "$out"
  ;;
unpack)
  [ "$#" -eq 4 ] || usage
  archive=$2 venv=$3 want=$4
  parent=$(dirname "$venv") base=$(basename "$venv")
  tmp="$parent/.$base.edgefl-golden"
  fallback() {
    rm -rf "$tmp"
    rm -f "$archive"
    echo "golden venv not used: $1"
    exit 3
  }
  # Only a venv without packages is replaced (the role unpacks only into a venv it made in this run).
  for d in "$venv"/lib/python*/site-packages/*; do
    if [ -e "$d" ]; then fallback "$venv already holds packages ($d)"; fi
  done
  rm -rf "$tmp"
  mkdir -m 0755 "$tmp"
  tar -xzf "$archive" -C "$tmp" --no-same-owner || fallback "cannot unpack $archive"
  rm -f "$archive"
  [ -d "$tmp/$base" ] || fallback "the archive has no $base directory"
  got=$("$tmp/$base/bin/python" -c 'import importlib.metadata as m, nvflare; print(m.version("nvflare"))' 2>&1) ||
    fallback "its python does not run here: $(printf '%s' "$got" | tail -n 1)"
  [ "$got" = "$want" ] || fallback "it holds nvflare $got, not $want"
  # which golden venv this is (the builder's venv has no such file): what the tests and an operator can check
  basename "$archive" >"$tmp/$base/.edgefl-golden"
  rm -rf "$venv"
  mv "$tmp/$base" "$venv"
  rmdir "$tmp"
  echo "nvflare $got"
  ;;
*) usage ;;
esac
