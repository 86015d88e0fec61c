#!/usr/bin/env bash
# Real provisioning with every NVFLARE minor line (issue #13): one cached venv per version, then pytest.
#   scripts/test-versions.sh [VERSION ...]      default: 2.4.2 2.5.2 2.6.3 2.7.3 2.8.3 2.9.0
# The venvs come from scripts/nvflare-venv.sh (${EDGEFL_NV_CACHE:-~/.cache/edgefl}/nv-<version>); a second
# run finds them and downloads nothing. The tests run in 3 pytest-xdist workers (EDGEFL_VERSIONS_WORKERS);
# EDGEFL_TEST_JOBS=2 also splits the versions into two pytest runs side by side.
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
if [[ ${EDGEFL_TEST_JOBS:-1} == 1 || ${#versions[@]} -lt 2 ]]; then
  EDGEFL_NV_VERSIONS="${versions[*]}" pytest_run
  exit
fi
mkdir -p .work
odd=() even=()
for i in "${!versions[@]}"; do
  if ((i % 2)); then odd+=("${versions[$i]}"); else even+=("${versions[$i]}"); fi
done
EDGEFL_NV_VERSIONS="${even[*]}" pytest_run >.work/test-versions-1.log 2>&1 &
pid=$!
rc=0
EDGEFL_NV_VERSIONS="${odd[*]}" pytest_run >.work/test-versions-2.log 2>&1 || rc=$?
wait "$pid" || rc=$?
echo "--- ${even[*]}"; cat .work/test-versions-1.log
echo "--- ${odd[*]}"; cat .work/test-versions-2.log
echo "versions stage: $((SECONDS - t0)) s"
exit "$rc"
