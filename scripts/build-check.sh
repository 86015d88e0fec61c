#!/usr/bin/env bash
# Build the collection tarball, install it into an empty collections path, check that
# every plugin's documentation renders from the INSTALLED copy, and that ansible-builder
# can create the execution-environment build context from it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
out=$ROOT/.work/ee
rm -rf "$out" && mkdir -p "$out"
ansible-galaxy collection build --force --output-path "$out" . >/dev/null
tarball=$(ls "$out"/edgefl-nvflare-*.tar.gz)
echo "[build] $(basename "$tarball"): $(du -h "$tarball" | cut -f1)"
# No secret may ever ship: refuse tarballs holding keys or provisioning state.
if tar -tzf "$tarball" | grep -E '(\.key$|/state/cert\.json$|rootCA\.key|prod_[0-9]+/)'; then
  echo "[build] the tarball contains key material or a provisioning workspace" >&2
  exit 1
fi
inst=$out/installed
# An empty config, so neither ansible.cfg nor the repo symlink can help.
printf '[defaults]\n' >"$out/empty.cfg"
ANSIBLE_CONFIG=$out/empty.cfg ansible-galaxy collection install --offline --no-deps -p "$inst" "$tarball" >/dev/null
export ANSIBLE_CONFIG=$out/empty.cfg ANSIBLE_COLLECTIONS_PATH=$inst
n=0
while read -r type name; do
  ansible-doc -t "$type" "$name" >/dev/null
  echo "[build] ansible-doc -t $type $name: ok"
  n=$((n + 1))
done < <(
  cd "$inst/ansible_collections/edgefl/nvflare"
  for f in plugins/modules/*.py; do [[ -e $f && ${f##*/} != __init__.py ]] && echo "module edgefl.nvflare.$(basename "$f" .py)"; done
  for f in plugins/filter/*.py; do
    [[ -e $f && ${f##*/} != __init__.py ]] || continue
    python3 - "$f" <<'PY'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
for node in ast.walk(tree):
    if isinstance(node, ast.FunctionDef) and node.name == "filters":
        for ret in ast.walk(node):
            if isinstance(ret, ast.Dict):
                for k in ret.keys:
                    if isinstance(k, ast.Constant):
                        print("filter edgefl.nvflare." + k.value)
PY
  done
  for d in roles/*/meta/argument_specs.yml; do [[ -e $d ]] && echo "role edgefl.nvflare.$(basename "$(dirname "$(dirname "$d")")")"; done
)
echo "[build] $n plugin/role docs render from the installed collection"
cp "$tarball" "$out/edgefl-nvflare.tar.gz"
cd "$ROOT" && ANSIBLE_CONFIG=$ROOT/ansible.cfg ansible-builder create --file execution-environment.yml --context "$out/context" >/dev/null
test -s "$out/context/Containerfile" && test -s "$out/context/_build/collections/edgefl-nvflare.tar.gz"
echo "[build] ansible-builder create: $out/context/Containerfile"
