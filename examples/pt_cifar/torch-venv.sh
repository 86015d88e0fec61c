#!/bin/sh
# Make (once) a Python venv with nvflare and torch for the PyTorch workload, outside the repository:
# the recipe export (job.py --export) and NVFLARE's simulator need torch; the collection's own
# toolchain venv does not have it and must not get it.
#   examples/pt_cifar/torch-venv.sh                 # prints the venv's python
#   EDGEFL_TORCH_PYTHON=$(examples/pt_cifar/torch-venv.sh) python -m pytest tests/unit/test_pt_job.py
# EDGEFL_TORCH_VENV   where (default ~/.cache/edgefl/torch/venv)
# NVFLARE_SPEC        default: nvflare==<the toolchain venv's nvflare version>, else nvflare==2.9.0
# TORCH_SPEC          default torch==2.13.0 (from the package index: on x86_64 Linux that is the CUDA
#                     build and its nvidia-* wheels, see bench/README.md "PyTorch workload"); give a
#                     CPU wheel file instead to keep it small
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${EDGEFL_TORCH_VENV:-$HOME/.cache/edgefl/torch/venv}
python=${PYTHON:-python3}
if [ -z "${NVFLARE_SPEC:-}" ]; then
  version=$("$here/../../.venv/bin/python" -c 'import nvflare; print(nvflare.__version__)' 2>/dev/null || echo 2.9.0)
  NVFLARE_SPEC="nvflare==$version"
fi
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
stamp="$venv/.edgefl-torch-venv"
want="$NVFLARE_SPEC $TORCH_SPEC"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv" >&2
  "$venv/bin/pip" install --disable-pip-version-check -q "$NVFLARE_SPEC" "$TORCH_SPEC" >&2
  "$venv/bin/python" -c 'import nvflare, torch' >&2
  printf '%s' "$want" > "$stamp"
fi
echo "$venv/bin/python"
