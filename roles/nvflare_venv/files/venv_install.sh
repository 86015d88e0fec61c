#!/bin/sh
# Install NVFLARE into the venv in one command on the host (edgefl.nvflare.nvflare_venv, tasks/pip.yml):
#   venv_install.sh ARCHIVE DIR keep|remove VENV_PYTHON VERSION MARKER MARKER_CONTENT PIP_COMMAND...
# ARCHIVE: the wheelhouse archive to unpack into DIR and delete ('' in index mode); DIR: the unpacked
# wheelhouse, removed at the end unless keep; then PIP_COMMAND runs. The nvflare version the venv
# holds afterwards is read back; MARKER gets MARKER_CONTENT only when it is VERSION (what the probe
# compares on the next run). The last output line is "nvflare <installed version>".
set -eu
if [ "$#" -lt 8 ]; then
  echo "usage: $0 ARCHIVE DIR keep|remove VENV_PYTHON VERSION MARKER MARKER_CONTENT PIP_COMMAND..." >&2
  exit 2
fi
archive=$1 dir=$2 keep=$3 py=$4 want=$5 marker=$6 content=$7
shift 7
if [ -n "$archive" ]; then
  mkdir -p "$dir"
  tar -xf "$archive" -C "$dir" --no-same-owner
  rm -f "$archive"
fi
"$@"
got=$("$py" -c 'import importlib.metadata as m; print(m.version("nvflare"))')
if [ "$got" = "$want" ]; then
  printf '%s' "$content" >"$marker"
fi
if [ "$keep" != keep ]; then
  rm -rf "$dir"
fi
echo "nvflare $got"
