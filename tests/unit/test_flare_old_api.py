"""The job module's path for NVFLARE before 2.8 (no server-side submit tokens): the content hash that stands
in for canonical_job_content_hash, and the token written into the submitted copy's meta."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from ansible_collections.edgefl.nvflare.plugins.module_utils import _flare

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "playbooks", "files", "jobs", "numpy_fedavg")


def test_content_hash_is_stable_and_sees_every_byte(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    shutil.copytree(EXAMPLE, a)
    shutil.copytree(EXAMPLE, b)
    assert _flare.content_hash(a) == _flare.content_hash(b)
    # NVFLARE's signature files do not count (the FLARE API writes them into the submitted copy)
    with open(os.path.join(b, ".__nvfl_sig.json"), "w") as f:
        f.write("{}")
    assert _flare.content_hash(a) == _flare.content_hash(b)
    with open(os.path.join(b, "meta.json"), "a") as f:
        f.write(" ")
    assert _flare.content_hash(a) != _flare.content_hash(b)
    # a renamed file is another job
    c = str(tmp_path / "c")
    shutil.copytree(EXAMPLE, c)
    os.rename(os.path.join(c, "meta.json"), os.path.join(c, "meta2.json"))
    assert _flare.content_hash(c) != _flare.content_hash(a)


def test_token_goes_into_a_json_meta(tmp_path):
    job = str(tmp_path / "job")
    shutil.copytree(EXAMPLE, job)
    with open(os.path.join(job, "meta.json")) as f:
        before = json.load(f)
    _flare._write_token_meta(job, "edgefl-x-123")
    with open(os.path.join(job, "meta.json")) as f:
        after = json.load(f)
    assert after == dict(before, **{_flare.TOKEN_META_KEY: "edgefl-x-123"})


def test_a_meta_conf_becomes_the_same_meta_json_with_the_token(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    (job / "meta.conf").write_text('name = "hocon-job"\nmin_clients = 2\ndeploy_map { app = ["@ALL"] }\n')
    _flare._write_token_meta(str(job), "tok")
    assert not (job / "meta.conf").exists()
    meta = json.loads((job / "meta.json").read_text())
    assert meta == {"name": "hocon-job", "min_clients": 2, "deploy_map": {"app": ["@ALL"]}, _flare.TOKEN_META_KEY: "tok"}


def test_a_folder_without_meta_is_refused(tmp_path):
    with pytest.raises(_flare.InvalidJob, match="no meta.json"):
        _flare._write_token_meta(str(tmp_path), "tok")
