#!/usr/bin/env bash
# Real provisioning with every NVFLARE minor line (issue #13): one cached venv per version, then pytest.
#   scripts/test-versions.sh [VERSION ...]      default: 2.4.2 2.5.2 2.6.3 2.7.3 2.8.3 2.9.0
# The venvs come from scripts/nvflare-venv.sh (${EDGEFL_NV_CACHE:-~/.cache/edgefl}/nv-<version>); a second
# run finds them and downloads nothing. The tests run in 3 pytest-xdist workers (EDGEFL_VERSIONS_WORKERS).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_CONFIG=$ROOT/ansible.cfg
versions=("$@")
((${#versions[@]})) || versions=(2.4.2 2.5.2 2.6.3 2.7.3 2.8.3 2.9.0)
t0=$SECONDS
for v in "${versions[@]}"; do
  scripts/nvflare-venv.sh "$v" >/dev/null
done
echo "venvs ready in $((SECONDS - t0)) s: ${versions[*]}"
# 3 pytest-xdist workers: most of the stage is three local federations waiting on their job rounds
pytest_run() { python -m pytest -q -p no:cacheprovider -n "${EDGEFL_VERSIONS_WORKERS:-3}" tests/versions; }
EDGEFL_NV_VERSIONS="${versions[*]}" pytest_run
