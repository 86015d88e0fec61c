#!/bin/sh
# Swap a staged venv in for the live one, or back (edgefl.nvflare playbooks/upgrade.yml):
#   venv_switch.sh promote LIVE STAGE PREV   LIVE -> PREV, STAGE -> LIVE (the unit's path never changes)
#   venv_switch.sh rollback LIVE PREV        LIVE removed, PREV -> LIVE
#   venv_switch.sh drop DIR...               remove DIR
#   venv_switch.sh cleanup LIVE PREV [WHEELHOUSE keep|remove]
#                                            remove PREV (the previous venv once the upgrade is verified) and every
#                                            venv staged next to LIVE (LIVE-<release> with a pyvenv.cfg), such as
#                                            what a killed staging for another release left, and the
#                                            temporary directory of a killed golden-venv unpack of one; in
#                                            WHEELHOUSE (the role's nvflare_venv_wheelhouse_dir) the archives a
#                                            killed install left, and with remove its unpacked wheelhouses
# A venv records its own path (console-script shebangs, bin/activate*, pyvenv.cfg's command line); promote
# rewrites STAGE to LIVE in those files. The services run LIVE/bin/python -m ..., which finds its
# site-packages from pyvenv.cfg next to bin/, so a renamed venv works as is.
# Idempotent: promote with no STAGE but a PREV, and rollback with no PREV, print "unchanged".
# The last output line is "changed" or "unchanged".
set -eu
usage() {
  echo "usage: $0 promote LIVE STAGE PREV | rollback LIVE PREV | drop DIR... | cleanup LIVE PREV [WHEELHOUSE keep|remove]" >&2
  exit 2
}
# is_release NAME: NAME is a release name as staging gives them (2.7.3, 2.9.0rc1)
is_release() {
  case $1 in
    *[!0-9A-Za-z.]*) return 1 ;;
    [0-9]*.[0-9]*) return 0 ;;
    *) return 1 ;;
  esac
}
# is_named NAME HEXLEN: NAME is <release>-<HEXLEN hex digits>, as the role names its wheelhouses and golden venvs
is_named() {
  hex=${1##*-}
  [ "$hex" != "$1" ] && [ "${#hex}" -eq "$2" ] || return 1
  case $hex in *[!0-9a-f]*) return 1 ;; esac
  is_release "${1%-*}"
}
# is_leftover PATH keep|remove: PATH in the wheelhouse directory is what an install killed half-way leaves there
is_leftover() {
  name=${1##*/}
  case $name in
    nvflare-*.tar) name=${name#nvflare-} && [ -f "$1" ] && is_named "${name%.tar}" 10 ;;
    venv-*.tar.gz) name=${name#venv-} && [ -f "$1" ] && is_named "${name%.tar.gz}" 12 ;;
    golden-*.tar.gz | golden-*.tar.gz.tmp)
      # venv_golden.sh pack writes golden-<pid>-<epoch>.tar.gz (.tmp until it is complete)
      name=${name#golden-} && name=${name%.tmp} && name=${name%.tar.gz}
      case $name in *[!0-9-]* | -* | *- | *-*-* | "") return 1 ;; esac
      [ "$name" != "${name#*-}" ] && [ -f "$1" ]
      ;;
    nvflare-*) [ "$2" = remove ] && [ -d "$1" ] && is_named "${name#nvflare-}" 10 ;;
    *) return 1 ;;
  esac
}
[ "$#" -ge 1 ] || usage
cmd=$1
shift
case $cmd in
promote)
  [ "$#" -eq 3 ] || usage
  live=$1 stage=$2 prev=$3
  if [ ! -d "$stage" ]; then
    if [ -d "$prev" ] && [ -x "$live/bin/python" ]; then echo unchanged; exit 0; fi
    echo "no staged venv at $stage" >&2
    exit 1
  fi
  [ -x "$stage/bin/python" ] || { echo "the staged venv $stage has no bin/python" >&2; exit 1; }
  rm -rf "$prev"
  if [ -d "$live" ]; then mv "$live" "$prev"; fi
  mv "$stage" "$live"
  # rewrite the recorded path (text files only: scripts, activate*, pyvenv.cfg)
  for f in "$live"/bin/* "$live/pyvenv.cfg"; do
    if [ ! -f "$f" ] || [ -L "$f" ]; then continue; fi
    if grep -qI -F "$stage" "$f" 2>/dev/null; then
      sed "s|$stage|$live|g" "$f" >"$f.edgefl-tmp"
      chmod --reference="$f" "$f.edgefl-tmp"
      mv "$f.edgefl-tmp" "$f"
    fi
  done
  echo changed
  ;;
rollback)
  [ "$#" -eq 2 ] || usage
  live=$1 prev=$2
  if [ ! -d "$prev" ]; then echo unchanged; exit 0; fi
  rm -rf "$live"
  mv "$prev" "$live"
  echo changed
  ;;
drop)
  [ "$#" -ge 1 ] || usage
  out=unchanged
  for d in "$@"; do
    if [ -e "$d" ]; then rm -rf "$d"; out=changed; fi
  done
  echo "$out"
  ;;
cleanup)
  [ "$#" -eq 2 ] || [ "$#" -eq 4 ] || usage
  live=$1 prev=$2 wheelhouse=${3:-} keep=${4:-keep}
  out=unchanged
  if [ -e "$prev" ]; then rm -rf "$prev"; out=changed; fi
  for d in "$live"-*; do
    if [ ! -d "$d" ] || [ -L "$d" ]; then continue; fi
    # only the names staging gives (LIVE-2.7.3, LIVE-2.9.0rc1), and only venvs: nothing else a user keeps there
    if is_release "${d#"$live"-}" && [ -f "$d/pyvenv.cfg" ]; then
      rm -rf "$d"
      echo "dropped $d"
      out=changed
    fi
  done
  # what a golden-venv unpack killed during a staging left (venv_golden.sh unpacks into .<name>.edgefl-golden)
  parent=$(dirname "$live") base=$(basename "$live")
  for d in "$parent/.$base"-*.edgefl-golden; do
    if [ ! -d "$d" ] || [ -L "$d" ]; then continue; fi
    rel=${d#"$parent/.$base"-}
    is_release "${rel%.edgefl-golden}" || continue
    rm -rf "$d"
    echo "dropped $d"
    out=changed
  done
  # what an install killed half-way left in the wheelhouse directory: the copied archives (an install removes its
  # archive once unpacked), a golden venv packed and not yet fetched, and unless kept the unpacked wheelhouses
  if [ -n "$wheelhouse" ] && [ -d "$wheelhouse" ] && [ ! -L "$wheelhouse" ]; then
    for f in "$wheelhouse"/*; do
      if [ -L "$f" ] || [ ! -e "$f" ]; then continue; fi
      if ! is_leftover "$f" "$keep"; then continue; fi
      rm -rf "$f"
      echo "dropped $f"
      out=changed
    done
  fi
  echo "$out"
  ;;
*) usage ;;
esac
