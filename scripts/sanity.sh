#!/usr/bin/env bash
# ansible-test needs the collection at .../ansible_collections/<ns>/<name>: copy the
# tracked (and untracked, not ignored) files there and run sanity, no ignore file.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# Outside the checkout: inside it, ansible-test would ask the parent git repository
# for the file list and find nothing.
# A directory of its own per run (two checkouts, or two runs at once, do not share one).
base=$(mktemp -d "${TMPDIR:-/tmp}/edgefl-nvflare-sanity.XXXXXX")
trap 'rm -rf "$base"' EXIT
dest=$base/ansible_collections/edgefl/nvflare
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard | grep -zv '^collections/' | tar -C "$ROOT" --null -T - -cf - | tar -C "$dest" -xf -
# ansible-test bootstraps pip in its virtualenvs with a script from a host that only
# PyPI-connected machines cannot reach: give it an equivalent built on ensurepip.
pip_version=$(python - <<'PY'
import re, ansible_test._internal.python_requirements as m
print(re.search(r"pip='([0-9.]+)'", open(m.__file__).read()).group(1))
PY
)
cache=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
[[ -s $cache ]] || install -D -m 0644 "$ROOT/scripts/ansible-test-get-pip.py" "$cache"
cd "$dest"
# not exec: the EXIT trap removes the copy afterwards
ansible-test sanity --venv --requirements --python "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" --color no "$@"
