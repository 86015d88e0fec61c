#!/usr/bin/env python3
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The manual guide's PyTorch workload as an NVFLARE 2.9 recipe: CifarNet trained with FedAvg.

Needs nvflare 2.9 and torch (CPU is enough) in the Python that runs it:
  python examples/pt_cifar/job.py --export --export-dir playbooks/files/jobs   # regenerate the shipped job
  python examples/pt_cifar/job.py --workspace /tmp/pt-sim                      # run it in NVFLARE's simulator
--export/--export-dir are NVFLARE's own recipe flags (recipe.execute); without --export the job runs
in SimEnv with --clients sites. tests/unit/test_pt_job.py checks that the export reproduces
playbooks/files/jobs/pt_cifar_fedavg/.
"""

import argparse
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))


def _paths_from_here():
    """Make path arguments absolute, then work in this folder.

    The recipe writes the train script's path into the job config as given, so it must be the bare
    file name (pt_cifar_client.py, found in the job's custom folder); NVFLARE's --export-dir is read
    when nvflare.recipe is imported, so it is made absolute first.
    """
    argv = sys.argv
    for i, arg in enumerate(argv):
        if arg in ("--export-dir", "--workspace") and i + 1 < len(argv):
            argv[i + 1] = os.path.abspath(argv[i + 1])
        elif arg.startswith(("--export-dir=", "--workspace=")):
            name, value = arg.split("=", 1)
            argv[i] = name + "=" + os.path.abspath(value)
    os.chdir(HERE)


_paths_from_here()
warnings.filterwarnings("ignore", message="NVFlare reserves '--export'")

from pt_cifar_net import CifarNet  # noqa: E402  (after the chdir above, like the client script)

from nvflare.app_opt.pt.recipes.fedavg import FedAvgRecipe  # noqa: E402
from nvflare.recipe import SimEnv  # noqa: E402
JOB_NAME = "pt_cifar_fedavg"
TRAIN_ARGS = "--train-size 512 --eval-size 256 --batch-size 32 --epochs 1 --lr 0.02"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-clients", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2, help="simulated sites (SimEnv only)")
    parser.add_argument("--workspace", default="/tmp/nvflare/simulation", help="SimEnv workspace root")
    args = parser.parse_args()

    recipe = FedAvgRecipe(
        name=JOB_NAME,
        model=CifarNet(),
        min_clients=args.min_clients,
        num_rounds=args.rounds,
        train_script="pt_cifar_client.py",
        train_args=TRAIN_ARGS,
        key_metric="accuracy",
    )
    env = SimEnv(num_clients=args.clients, workspace_root=args.workspace)
    run = recipe.execute(env)
    print("job status:", run.get_status())
    print("result:", run.get_result())


if __name__ == "__main__":
    main()
