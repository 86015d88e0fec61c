#!/usr/bin/env python3
"""Regenerate playbooks/files/jobs/numpy_fedavg/ from NVFLARE's NumpyFedAvgRecipe.

Usage: .venv/bin/python examples/make_numpy_fedavg.py [--rounds 3] [--min-clients 2] [--out DIR]
                                                        [--client-script FILE]

The job is NumPy only (runs on Jetsons without torch). Initial model: a 3x3 matrix 1..9.
The client script (by default the job's own app/custom/numpy_fedavg_client.py, read before the
job directory is replaced) adds 1.0 per round, so the final global model is the initial model
+ rounds. tests/unit/test_example_job.py checks that this script reproduces the shipped job.
"""

import argparse
import os
import shutil
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "playbooks", "files", "jobs", "numpy_fedavg")
DEFAULT_CLIENT_SCRIPT = os.path.join(DEFAULT_OUT, "app", "custom", "numpy_fedavg_client.py")
INITIAL_MODEL = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-clients", type=int, default=2)
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--client-script", default=DEFAULT_CLIENT_SCRIPT)
    args = parser.parse_args()

    from nvflare.app_common.np.recipes.fedavg import NumpyFedAvgRecipe

    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "numpy_fedavg_client.py")
        shutil.copy(args.client_script, script)
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            recipe = NumpyFedAvgRecipe(
                name="numpy_fedavg",
                model=INITIAL_MODEL,
                min_clients=args.min_clients,
                num_rounds=args.rounds,
                train_script="numpy_fedavg_client.py",
            )
            recipe.export(os.path.join(tmp, "export"))
        finally:
            os.chdir(cwd)
        exported = os.path.join(tmp, "export", "numpy_fedavg")
        out = os.path.abspath(args.out)
        if os.path.isdir(out):
            shutil.rmtree(out)
        shutil.copytree(exported, out)
    print(f"wrote {out}: {args.rounds} rounds, min_clients={args.min_clients}")


if __name__ == "__main__":
    main()
