#!/usr/bin/env bash
# ansible-test needs the collection at .../ansible_collections/<ns>/<name>: copy the
# tracked (and untracked, not ignored) files there and run sanity, no ignore file.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
dest=$ROOT/.work/sanity/ansible_collections/edgefl/nvflare
rm -rf "$ROOT/.work/sanity" && mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard | grep -zv '^collections/' | tar -C "$ROOT" --null -T - -cf - | tar -C "$dest" -xf -
cd "$dest"
ansible-test sanity --venv --requirements --python "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" --color no "$@"
