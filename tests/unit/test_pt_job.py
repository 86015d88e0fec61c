# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shipped PyTorch workload (playbooks/files/jobs/pt_cifar_fedavg, issue #13 part 4).

Without torch: the job module accepts the folder, NVFLARE's own loaders read every config, every
class it names exists in the installed nvflare or in the job's custom folder, and the custom folder
is the example's source. With a Python that has torch and nvflare (EDGEFL_TORCH_PYTHON, made by
examples/pt_cifar/torch-venv.sh): the recipe re-exports the same folder and NVFLARE's simulator runs
it to the end with a falling loss. Those two are skipped when EDGEFL_TORCH_PYTHON is not set.
"""

from __future__ import annotations

import ast
import filecmp
import inspect
import os
import re
import subprocess
import sys

import pytest

from ansible_collections.edgefl.nvflare.plugins.module_utils import _flare_job as fj
from conftest import ROOT

JOB = os.path.join(ROOT, "playbooks", "files", "jobs", "pt_cifar_fedavg")
EXAMPLE = os.path.join(ROOT, "examples", "pt_cifar")
CUSTOM = os.path.join(JOB, "app", "custom")
CONFIGS = ("config_fed_server", "config_fed_client")
TORCH_PYTHON = os.environ.get("EDGEFL_TORCH_PYTHON", "")
needs_torch = pytest.mark.skipif(
    not TORCH_PYTHON, reason="EDGEFL_TORCH_PYTHON is not set (a Python with torch and nvflare: examples/pt_cifar/torch-venv.sh)"
)


def tree(path):
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _dirs, files in os.walk(path) for f in files)


def load(name):
    fmt, path = fj._find_config(os.path.join(JOB, "app", "config"), name)
    assert path, name
    return fj._load_config(fmt, path, JOB)


def class_paths(node):
    """Every "path" of a component/executor/workflow, and of nested dict configs (the persistor's model)."""
    if isinstance(node, dict):
        if isinstance(node.get("path"), str):
            yield node["path"]
        for value in node.values():
            yield from class_paths(value)
    elif isinstance(node, list):
        for value in node:
            yield from class_paths(value)


def test_the_job_module_accepts_the_folder():
    meta = fj.check_job_folder(JOB)
    assert meta["name"] == "pt_cifar_fedavg"
    assert meta["min_clients"] == 2
    assert meta["deploy_map"] == {"app": ["@ALL"]}
    fj.check_links(JOB)
    with fj.staged_job(JOB) as staged:
        assert tree(staged) == tree(JOB)


def test_server_runs_fedavg_on_cifarnet_for_five_rounds():
    from nvflare.app_common.workflows.fedavg import FedAvg

    server = load("config_fed_server")
    (workflow,) = server["workflows"]
    assert workflow["path"] == "nvflare.app_common.workflows.fedavg.FedAvg"
    # the exporter leaves out arguments equal to the class default: read it from the installed FedAvg
    # (FedAvg takes it through *args from a base class: the first class in its MRO that names it)
    default_rounds = next(
        inspect.signature(cls.__init__).parameters["num_rounds"].default
        for cls in FedAvg.__mro__
        if "num_rounds" in inspect.signature(cls.__init__).parameters
    )
    assert workflow["args"].get("num_rounds", default_rounds) == 5
    assert workflow["args"]["num_clients"] == 2
    persistor = {c["id"]: c for c in server["components"]}["persistor"]
    assert persistor["path"] == "nvflare.app_opt.pt.file_model_persistor.PTFileModelPersistor"
    assert persistor["args"]["model"] == {"path": "pt_cifar_net.CifarNet", "args": {}}


def test_client_runs_the_shipped_script_in_process_with_pytorch_exchange():
    client = load("config_fed_client")
    (executor,) = client["executors"]
    args = executor["executor"]["args"]
    assert executor["executor"]["path"] == "nvflare.app_common.executors.client_api_executor.ClientAPIExecutor"
    assert args["task_script_path"] == "pt_cifar_client.py"
    assert os.path.isfile(os.path.join(CUSTOM, args["task_script_path"]))
    assert args["params_exchange_format"] == "pytorch"
    assert "--lr" in args["task_script_args"] and "--train-size" in args["task_script_args"]


@pytest.mark.parametrize("config", CONFIGS)
def test_every_class_the_job_names_exists(config):
    """nvflare classes in the installed nvflare (its source, as torch is not needed to check), others in custom/."""
    import nvflare

    nvflare_root = os.path.dirname(nvflare.__file__)
    paths = sorted(set(class_paths(load(config))))
    assert paths
    for path in paths:
        module, name = path.rsplit(".", 1)
        parts = module.split(".")
        if parts[0] == "nvflare":
            source = os.path.join(nvflare_root, *parts[1:]) + ".py"
        else:
            source = os.path.join(CUSTOM, *parts) + ".py"
        assert os.path.isfile(source), "%s: no %s" % (path, source)
        with open(source, encoding="utf-8") as f:
            assert re.search(r"^class %s\b" % re.escape(name), f.read(), re.M), "%s: no class %s in %s" % (path, name, source)


def test_custom_folder_is_the_example_source():
    assert tree(CUSTOM) == ["pt_cifar_client.py", "pt_cifar_net.py"]
    for rel in tree(CUSTOM):
        assert filecmp.cmp(os.path.join(CUSTOM, rel), os.path.join(EXAMPLE, rel), shallow=False), rel


@pytest.mark.parametrize("name", ["pt_cifar_client.py", "pt_cifar_net.py", "job.py"])
def test_sources_import_nothing_that_downloads(name):
    """Only torch, nvflare, the job's own module and the standard library: no torchvision, no data set fetch."""
    with open(os.path.join(EXAMPLE, name), encoding="utf-8") as f:
        tree_ = ast.parse(f.read())
    imported = set()
    for node in ast.walk(tree_):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    allowed = {"torch", "nvflare", "pt_cifar_net"} | set(sys.stdlib_module_names)
    assert imported <= allowed, imported - allowed
    assert not imported & {"urllib", "http", "socket", "requests"}


@needs_torch
def test_recipe_export_reproduces_the_shipped_job(tmp_path):
    proc = subprocess.run(
        [TORCH_PYTHON, os.path.join(EXAMPLE, "job.py"), "--export", "--export-dir", str(tmp_path)],
        capture_output=True, text=True, check=False, cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = tmp_path / "pt_cifar_fedavg"
    assert tree(str(out)) == tree(JOB)
    for rel in tree(JOB):
        assert filecmp.cmp(os.path.join(JOB, rel), str(out / rel), shallow=False), rel


@needs_torch
def test_simulator_runs_the_shipped_job_and_the_loss_falls(tmp_path):
    nvflare_cli = os.path.join(os.path.dirname(TORCH_PYTHON), "nvflare")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [nvflare_cli, "simulator", JOB, "-w", str(tmp_path / "ws"), "-n", "2", "-t", "2"],
        capture_output=True, text=True, check=False, cwd=str(tmp_path), env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    losses = {}
    line = re.compile(r"pt_cifar site=(\S+) round=(\d+) device=(\w+) loss_before=([\d.]+)")
    for site in ("site-1", "site-2"):
        with open(tmp_path / "ws" / site / "log.txt", encoding="utf-8") as f:
            for m in line.finditer(f.read()):
                losses.setdefault(m.group(1), {})[int(m.group(2))] = float(m.group(4))
                assert m.group(3) in ("cpu", "cuda")
    assert sorted(losses) == ["site-1", "site-2"]
    for site, per_round in losses.items():
        assert sorted(per_round) == [0, 1, 2, 3, 4], site
        # the global model each site receives: near chance (ln 10) first, clearly learnt by the last round
        assert per_round[0] > 2.0 and per_round[4] < 0.5 * per_round[0], (site, per_round)
    for site in ("server", "site-1", "site-2"):
        assert os.path.getsize(tmp_path / "ws" / site / "error_log.txt") == 0, site
