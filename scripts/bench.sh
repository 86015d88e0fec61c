#!/usr/bin/env bash
# Run the benchmarks under bench/ (not part of `make test`: they take long and measure,
# they do not assert). Each prints its table and writes bench/results/<name>.json.
#   scripts/bench.sh [name ...]     e.g. scripts/bench.sh provision
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH ANSIBLE_CONFIG=$PWD/ansible.cfg
mkdir -p bench/results
names=("$@")
if ((${#names[@]} == 0)); then
  for f in bench/bench_*.py; do names+=("$(basename "$f" .py | sed 's/^bench_//')"); done
fi
for n in "${names[@]}"; do
  echo "===== bench: $n ====="
  python "bench/bench_$n.py"
done
