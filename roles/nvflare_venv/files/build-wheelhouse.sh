#!/bin/sh
# Build a wheelhouse tarball once on the control node (edgefl.nvflare.nvflare_venv).
#   build-wheelhouse.sh DEST PYTHON PIP_DOWNLOAD_ARGS...
# Writes DEST/ (the wheels) and DEST.tar; concurrent runs wait on DEST.lock.
set -eu
dest=$1
python=$2
shift 2
mkdir -p "$(dirname "$dest")"
exec 9>"$dest.lock"
flock 9
if [ -f "$dest.tar" ]; then
  echo "wheelhouse $dest.tar already built"
  exit 0
fi
rm -rf "$dest.part" "$dest.tar.part"
mkdir -p "$dest.part"
"$python" -m pip download --disable-pip-version-check --only-binary=:all: -d "$dest.part" "$@"
# pip evaluates dependency markers against the Python running it, not --python-version: for a host Python
# other than this one, add what the wheels need there (wheelhouse_complete.py, path in $EDGEFL_WHEELHOUSE_COMPLETE)
target=$(printf '%s\n' "$@" | sed -n '/^--python-version$/{n;p;q}')
machine=$(printf '%s\n' "$@" | sed -n '/^--platform$/{n;p;q}' | sed -n 's/.*_\(x86_64\|aarch64\|armv7l\|ppc64le\|s390x\)$/\1/p')
here=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -n "$target" ] && [ "$target" != "$here" ] && [ -n "${EDGEFL_WHEELHOUSE_COMPLETE:-}" ]; then
  round=0
  while [ $round -lt 5 ]; do
    extra=$("$python" "$EDGEFL_WHEELHOUSE_COMPLETE" "$dest.part" "$target" "${machine:-x86_64}")
    [ -n "$extra" ] || break
    echo "for Python $target also: $(echo "$extra" | tr '\n' ' ')"
    # shellcheck disable=SC2086 # one requirement per line, none has spaces
    "$python" -m pip download --disable-pip-version-check --only-binary=:all: -d "$dest.part" "$@" $extra
    round=$((round + 1))
  done
  [ -z "$extra" ] || echo "WARNING: the wheelhouse may still lack, for Python $target: $extra" >&2
fi
tar -C "$dest.part" -cf "$dest.tar.part" .
rm -rf "$dest"
mv "$dest.part" "$dest"
mv "$dest.tar.part" "$dest.tar"
echo "built $dest.tar ($(find "$dest" -mindepth 1 -maxdepth 1 | wc -l) files)"
