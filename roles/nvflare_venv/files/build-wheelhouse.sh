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
tar -C "$dest.part" -cf "$dest.tar.part" .
rm -rf "$dest"
mv "$dest.part" "$dest"
mv "$dest.tar.part" "$dest.tar"
echo "built $dest.tar ($(find "$dest" -mindepth 1 -maxdepth 1 | wc -l) files)"
