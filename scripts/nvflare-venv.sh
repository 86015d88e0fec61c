#!/usr/bin/env bash
# A control-node Python with nvflare==VERSION, for provisioning a federation that runs that version.
#   scripts/nvflare-venv.sh VERSION        e.g. scripts/nvflare-venv.sh 2.4.2
# Creates ${EDGEFL_NV_CACHE:-~/.cache/edgefl}/nv-VERSION with uv (from PyPI) holding nvflare==VERSION and
# netaddr (the provision module's IP check), and prints that venv's python as the last line of stdout:
#   ansible-playbook ... -e nvflare_version=2.4.2 -e nvflare_control_python="$(scripts/nvflare-venv.sh 2.4.2)"
# A second call finds the venv (its stamp file) and does nothing else: no network, no uv.
# uv itself is cached in <cache>/uvtool (a venv with `pip install uv`); uv's download cache is its own
# (UV_CACHE_DIR, default ~/.cache/uv). EDGEFL_NV_PYTHON picks the interpreter (default python3):
# nvflare 2.4.x needs Python >= 3.8, 2.5-2.7 >= 3.9, 2.8-2.9 >= 3.10.
set -euo pipefail
die() { echo "nvflare-venv.sh: $*" >&2; exit 1; }
(($# == 1)) || die "usage: scripts/nvflare-venv.sh VERSION (a full nvflare version, e.g. 2.4.2)"
ver=$1
[[ $ver =~ ^[0-9]+\.[0-9]+\.[0-9]+([a-z]+[0-9]+)?$ ]] || die "'$ver' is not a full nvflare version such as 2.4.2"
cache=${EDGEFL_NV_CACHE:-$HOME/.cache/edgefl}
venv=$cache/nv-$ver
stamp=$venv/.edgefl-nvflare-venv
if [[ -e $stamp && -x $venv/bin/python ]]; then
  echo "$venv/bin/python"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.nv-$ver.lock"
flock 9 # two runs creating the same venv: the second waits, then finds it made
if [[ -e $stamp && -x $venv/bin/python ]]; then
  echo "$venv/bin/python"
  exit 0
fi
uv=$cache/uvtool/bin/uv
if [[ ! -x $uv ]]; then
  echo "nvflare-venv.sh: installing uv into $cache/uvtool" >&2
  rm -rf "$cache/uvtool"
  "${EDGEFL_NV_PYTHON:-python3}" -m venv "$cache/uvtool"
  "$cache/uvtool/bin/pip" install -q --disable-pip-version-check uv >&2
fi
if [[ ! -x $venv/bin/python ]]; then
  rm -rf "$venv"
  "$uv" venv -q --python "${EDGEFL_NV_PYTHON:-python3}" "$venv" >&2
fi
echo "nvflare-venv.sh: installing nvflare==$ver into $venv" >&2
"$uv" pip install -q --python "$venv/bin/python" "nvflare==$ver" netaddr >&2 ||
  die "could not install nvflare==$ver into $venv (is $ver a released version, and does $("$venv/bin/python" -V 2>&1) meet its Requires-Python?)"
"$venv/bin/python" -c 'import nvflare.lighter, netaddr' ||
  die "nvflare $ver was installed into $venv but does not import"
printf '%s\n' "$ver" >"$stamp"
echo "$venv/bin/python"
