#!/bin/sh
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Give a host a Python that ansible-core can run its modules with (playbooks/bootstrap.yml sends this
# script through the `raw` action: no Python is needed on the host to run it, only a POSIX sh).
#
#   sh bootstrap.sh MODE FLOOR [INTERPRETER]
#     MODE         apply (install when needed) or check (say what would be installed, change nothing)
#     FLOOR        oldest usable Python as MAJOR.MINOR (ansible-core's own floor, e.g. 3.8)
#     INTERPRETER  the user's ansible_python_interpreter: only verified, never installed
#
# Prints "EDGEFL key=value" lines that the edgefl.nvflare.bootstrap_plan filter parses:
#   found=PATH VERSION  every Python looked at (any number of lines)
#   distro=ID VERSION_ID
#   status=ok|verified|would_install|installed|unsupported|failed
#   interpreter=PATH    (ok, verified, installed)   version=X.Y
#   packages=PKG...     (would_install, installed, and failed installs)
#   msg=TEXT            (unsupported, failed)
# Installer output goes to standard error. Only shell built-ins are used besides the Pythons probed and
# apt-get, so the tests run it with a PATH of fakes. Test hooks: EDGEFL_OS_RELEASE (default
# /etc/os-release), EDGEFL_BOOTSTRAP_DIRS (where to look for Pythons, default /usr/bin /usr/local/bin
# /usr/libexec /bin).

mode=${1:-}
floor=${2:-}
user_interpreter=${3:-}
os_release=${EDGEFL_OS_RELEASE:-/etc/os-release}
dirs=${EDGEFL_BOOTSTRAP_DIRS:-/usr/bin /usr/local/bin /usr/libexec /bin}

say() { printf 'EDGEFL %s=%s\n' "$1" "$2"; }
finish() { say status "$1"; [ -z "${2:-}" ] || say msg "$2"; exit 0; }

case $mode in apply | check) ;; *) finish failed "bootstrap.sh: MODE must be apply or check, got '$mode'" ;; esac
case $floor in
  [0-9]*.[0-9]*) ;;
  *) finish failed "bootstrap.sh: FLOOR must be MAJOR.MINOR, got '$floor'" ;;
esac
floor_major=${floor%%.*}
floor_minor=${floor#*.}
case $floor_major$floor_minor in *[!0-9]*) finish failed "bootstrap.sh: FLOOR must be MAJOR.MINOR, got '$floor'" ;; esac

# version_of PYTHON: prints X.Y, or nothing when it does not run
version_of() {
  # word splitting on purpose: a user interpreter may be "/usr/bin/env python3"
  # shellcheck disable=SC2086
  $1 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

# usable X.Y: true when X.Y >= FLOOR
usable() {
  case $1 in [0-9]*.[0-9]*) ;; *) return 1 ;; esac
  _maj=${1%%.*}
  _min=${1#*.}
  case $_maj$_min in *[!0-9]*) return 1 ;; esac
  [ "$_maj" -gt "$floor_major" ] || { [ "$_maj" -eq "$floor_major" ] && [ "$_min" -ge "$floor_minor" ]; }
}

# find_python: sets best/best_version to the first usable Python; reports every one looked at until then.
# Order: python3 (the distribution's own, which has python3-apt), then python3.N from the newest down to
# the floor, then platform-python; each name in every directory of $dirs.
find_python() {
  best=
  best_version=
  names=python3
  n=14
  while [ "$n" -ge "$floor_minor" ] && [ "$floor_major" -eq 3 ]; do
    names="$names python3.$n"
    n=$((n - 1))
  done
  names="$names platform-python"
  for name in $names; do
    for dir in $dirs; do
      p=$dir/$name
      if [ ! -f "$p" ] || [ ! -x "$p" ]; then continue; fi
      v=$(version_of "$p")
      say found "$p ${v:-unknown}"
      if usable "$v"; then
        best=$p
        best_version=$v
        return 0
      fi
    done
  done
}

if [ -n "$user_interpreter" ]; then
  v=$(version_of "$user_interpreter")
  say found "$user_interpreter ${v:-unknown}"
  if [ -z "$v" ]; then
    finish failed "ansible_python_interpreter=$user_interpreter does not run on this host; unset it to let the bootstrap install a Python, or point it at a Python >= $floor"
  fi
  if ! usable "$v"; then
    finish failed "ansible_python_interpreter=$user_interpreter is Python $v but this ansible-core needs >= $floor; unset it to let the bootstrap install one, or point it at a newer Python"
  fi
  say interpreter "$user_interpreter"
  say version "$v"
  finish verified
fi

find_python
if [ -n "$best" ]; then
  say interpreter "$best"
  say version "$best_version"
  finish ok
fi

# No usable Python: which package gives one on this distribution?
ID=
VERSION_ID=
ID_LIKE=
if [ -r "$os_release" ]; then
  # KEY=VALUE lines, values maybe quoted (os-release(5)); read, never sourced
  while IFS='=' read -r key value || [ -n "$key" ]; do
    value=${value#\"}
    value=${value%\"}
    value=${value#\'}
    value=${value%\'}
    case $key in
      ID) ID=$value ;;
      VERSION_ID) VERSION_ID=$value ;;
      ID_LIKE) ID_LIKE=$value ;;
    esac
  done <"$os_release"
fi
say distro "${ID:-unknown} ${VERSION_ID:-unknown}"
packages=
case " $ID $ID_LIKE " in
  *" ubuntu "*) ;;
  *" debian "*) ;;
  *) finish unsupported "no Python >= $floor on this host and no known package for ${ID:-an unknown distribution} ${VERSION_ID:-} (only Debian and Ubuntu are bootstrapped): install a Python >= $floor and set ansible_python_interpreter for this host" ;;
esac
if [ "$ID" = ubuntu ] && [ "$VERSION_ID" = 18.04 ]; then
  # Ubuntu 18.04 / JetPack 4.6: python3 is 3.6; universe has python3.8 (there is no python3-apt for it)
  if [ "$floor_major" -eq 3 ] && [ "$floor_minor" -le 8 ]; then
    packages=python3.8
  else
    finish unsupported "no Python >= $floor on Ubuntu 18.04 (its archive has python3.8 at most): install one and set ansible_python_interpreter for this host"
  fi
else
  # the distribution's python3, and python3-apt so that the apt module works (also in check mode)
  packages="python3 python3-apt"
fi
say packages "$packages"
if ! command -v apt-get >/dev/null 2>&1; then
  finish unsupported "no Python >= $floor on this host and no apt-get to install $packages with: install a Python >= $floor and set ansible_python_interpreter for this host"
fi
if [ "$mode" = check ]; then
  finish would_install
fi

export DEBIAN_FRONTEND=noninteractive
# a fresh host may have no package lists; a failed update still lets an install from old lists try
apt-get update -q >&2 || true
# shellcheck disable=SC2086
if ! apt-get install -y -q --no-install-recommends $packages >&2; then
  finish failed "apt-get install $packages failed (its output is on standard error)"
fi
find_python
if [ -z "$best" ]; then
  finish failed "apt-get installed $packages but still no Python >= $floor was found in $dirs"
fi
say interpreter "$best"
say version "$best_version"
finish installed
