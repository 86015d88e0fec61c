"""edgefl.nvflare.admin_kit on a kit from NVFLARE's real provisioning: fed_admin.json stays signed.

NVFLARE 2.9 signs a kit's startup folder only for CC/HE kits; 2.4-2.7 sign every kit with the same
nvflare.lighter.utils.sign_folders call, which the fixture makes on the 2.9 kit. The verification is
NVFLARE's own SecurityContentManager, and, where the cached 2.7.3 venv exists (scripts/nvflare-venv.sh
2.7.3, made by the versions stage), 2.7's secure_load_admin_config, the check that refused the
rewritten kit. tests/versions/test_versions.py runs the module on each version's own provisioned kit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from conftest import snapshot, warnings_of
from test_provision import PROJECT, kit, spec

from ansible_collections.edgefl.nvflare.plugins.module_utils._admin_kit import render
from ansible_collections.edgefl.nvflare.plugins.modules.admin_kit import main as admin_kit_main
from ansible_collections.edgefl.nvflare.plugins.modules.provision import main as provision_main

ADMIN = "admin@nvidia.com"
NV27 = os.path.expanduser("~/.cache/edgefl/nv-2.7.3/bin/python")


@pytest.fixture
def installed(tmp_path, run_module):
    """A provisioned workspace and a copy of the admin kit installed beside it (as the role's kit steps do)."""
    from nvflare.lighter.utils import load_private_key, sign_folders

    ws = tmp_path / "ws"
    assert run_module(provision_main, spec(ws))["changed"] is True
    key = json.loads(open(os.path.join(str(ws), PROJECT, "state", "cert.json")).read())["root_pri_key"]
    # what NVFLARE 2.4-2.7's SignatureBuilder does to every kit's startup folder
    sign_folders(os.path.realpath(kit(ws, ADMIN, "startup")), load_private_key(key), signature_file="signature.json")
    dest = tmp_path / "installed"
    shutil.copytree(kit(ws, ADMIN), dest, symlinks=False)
    with open(kit(ws, ADMIN, "startup", "fed_admin.json")) as f:
        config = json.load(f)
    config["admin"]["host"] = "10.0.0.1"
    args = {"src": kit(ws, ADMIN), "dest": str(dest), "config": config,
            "cert_state": os.path.join(str(ws), PROJECT, "state", "cert.json")}
    return ws, dest, args


def nvflare_load(startup):
    from nvflare.fuel.sec.security_content_service import LoadResult, SecurityContentManager

    return SecurityContentManager(str(startup)).load_json("fed_admin.json")[1] == LoadResult.OK


def test_rewritten_config_is_signed_and_verifies(installed, run_module):
    _ws, dest, args = installed
    assert nvflare_load(dest / "startup")  # as provisioned
    result = run_module(admin_kit_main, args)
    assert result["changed"] is True and result["signed"] is True, result
    assert result["written"] == ["startup/fed_admin.json", "startup/signature.json"]
    assert (dest / "startup" / "fed_admin.json").read_bytes() == render(args["config"])
    assert json.loads((dest / "startup" / "fed_admin.json").read_text())["admin"]["host"] == "10.0.0.1"
    assert nvflare_load(dest / "startup")
    assert oct(os.stat(dest / "startup" / "signature.json").st_mode & 0o777) == "0o600"
    # every other entry is the provisioned one
    src = json.loads(open(os.path.join(args["src"], "startup", "signature.json")).read())
    got = json.loads((dest / "startup" / "signature.json").read_text())
    assert set(got) == set(src)
    assert {k: v for k, v in got.items() if k != "fed_admin.json"} == {k: v for k, v in src.items()
                                                                       if k != "fed_admin.json"}
    assert got["fed_admin.json"] != src["fed_admin.json"]
    # the key is not in the result
    key = json.loads(open(args["cert_state"]).read())["root_pri_key"]
    assert key.splitlines()[1] not in json.dumps(result)


def test_second_run_changes_nothing(installed, run_module):
    _ws, dest, args = installed
    run_module(admin_kit_main, args)
    before = snapshot(str(dest))
    again = run_module(admin_kit_main, args)
    assert again["changed"] is False and again["written"] == [] and again["signed"] is False, again
    assert snapshot(str(dest)) == before


def test_check_mode_reports_and_writes_nothing(installed, run_module):
    _ws, dest, args = installed
    before = snapshot(str(dest))
    result = run_module(admin_kit_main, args, check_mode=True, diff=True)
    assert result["changed"] is True and result["written"] == ["startup/fed_admin.json", "startup/signature.json"]
    assert '"host": "10.0.0.1"' in result["diff"]["after"] and '"host": "10.0.0.1"' not in result["diff"]["before"]
    assert snapshot(str(dest)) == before


def test_unchanged_config_keeps_the_provisioned_signature(installed, run_module):
    ws, dest, args = installed
    with open(kit(ws, ADMIN, "startup", "fed_admin.json")) as f:
        provisioned = json.load(f)
    # the provisioned bytes are written by NVFLARE (not in to_nice_json form): a rewrite in our form must be
    # signed; a config whose rendering equals the provisioned bytes keeps the provisioned signature
    (dest / "startup" / "fed_admin.json").write_bytes(render(provisioned))
    result = run_module(admin_kit_main, dict(args, config=provisioned))
    assert nvflare_load(dest / "startup")
    src = json.loads(open(os.path.join(args["src"], "startup", "signature.json")).read())
    got = json.loads((dest / "startup" / "signature.json").read_text())
    same = render(provisioned) == open(kit(ws, ADMIN, "startup", "fed_admin.json"), "rb").read()
    assert (got["fed_admin.json"] == src["fed_admin.json"]) is same
    assert result["signed"] is (not same)


def test_new_provisioning_replaces_the_signature_file(installed, run_module):
    ws, dest, args = installed
    run_module(admin_kit_main, args)
    # the provisioned signature file changes (a renewed kit): the installed one follows, fed_admin.json re-signed
    src_sig = os.path.join(args["src"], "startup", "signature.json")
    sigs = json.loads(open(src_sig).read())
    sigs["extra.json"] = sigs["fed_admin.json"]
    os.chmod(src_sig, 0o600)
    with open(src_sig, "w") as f:
        json.dump(sigs, f)
    result = run_module(admin_kit_main, args)
    assert result["written"] == ["startup/signature.json"] and result["signed"] is False, result
    assert "extra.json" in json.loads((dest / "startup" / "signature.json").read_text())
    assert nvflare_load(dest / "startup")


def test_missing_root_key_warns_and_keeps_the_provisioned_entry(installed, run_module, tmp_path):
    _ws, dest, args = installed
    result = run_module(admin_kit_main, dict(args, cert_state=str(tmp_path / "nowhere.json")))
    assert result["signed"] is False
    assert any("INVALID_SIGNATURE" in w and "cert_state" in w for w in warnings_of(result)), result
    assert not nvflare_load(dest / "startup")


def test_unsigned_kit_is_written_without_a_signature_file(tmp_path, run_module):
    """NVFLARE 2.9's plain kit has no signature.json: only fed_admin.json is written."""
    ws = tmp_path / "ws"
    run_module(provision_main, spec(ws))
    assert not os.path.exists(kit(ws, ADMIN, "startup", "signature.json"))
    dest = tmp_path / "installed"
    shutil.copytree(kit(ws, ADMIN), dest)
    config = json.loads(open(kit(ws, ADMIN, "startup", "fed_admin.json")).read())
    config["admin"]["host"] = "10.0.0.1"
    args = {"src": kit(ws, ADMIN), "dest": str(dest), "config": config,
            "cert_state": os.path.join(str(ws), PROJECT, "state", "cert.json")}
    result = run_module(admin_kit_main, args)
    assert result["written"] == ["startup/fed_admin.json"] and result["signed"] is False, result
    assert not (dest / "startup" / "signature.json").exists()
    assert run_module(admin_kit_main, args)["changed"] is False


def test_missing_dest_startup_is_a_clear_error(installed, run_module, tmp_path):
    _ws, _dest, args = installed
    result = run_module(admin_kit_main, dict(args, dest=str(tmp_path / "empty")))
    assert result["failed"] is True and result["field"] == "dest" and "install the admin kit first" in result["msg"]


def test_check_mode_before_the_kit_is_installed(installed, run_module, tmp_path):
    """Check mode on a fresh control node: the kit steps before this one created nothing, dest is missing."""
    _ws, _dest, args = installed
    missing = tmp_path / "not-yet"
    result = run_module(admin_kit_main, dict(args, dest=str(missing)), check_mode=True)
    assert not result.get("failed") and result["changed"] is True, result
    assert result["written"] == ["startup/fed_admin.json", "startup/signature.json"]
    assert not missing.exists()


def test_corrupt_installed_signature_file_is_a_clear_error(installed, run_module):
    _ws, dest, args = installed
    (dest / "startup" / "signature.json").write_text("{not json")
    result = run_module(admin_kit_main, args)
    assert result["failed"] is True and "not valid JSON" in result["msg"], result


@pytest.mark.skipif(not os.path.exists(NV27), reason="no cached NVFLARE 2.7.3 venv (scripts/nvflare-venv.sh 2.7.3)")
def test_nvflare_2_7_loads_the_signed_kit(installed, run_module):
    """NVFLARE 2.7.3's admin client loads the rewritten kit only once it is signed."""
    _ws, dest, args = installed
    probe = ("import sys\nfrom nvflare.apis.workspace import Workspace\n"
             "from nvflare.fuel.hci.client.config import secure_load_admin_config\n"
             "try:\n    secure_load_admin_config(Workspace(root_dir=sys.argv[1]))\nexcept Exception as e:\n"
             "    print(e); sys.exit(3)\n")
    unsigned = dict(args["config"])
    # the rewrite without a new signature: what the role wrote before (refused by 2.7)
    (dest / "startup" / "fed_admin.json").write_bytes(render(unsigned))
    proc = subprocess.run([NV27, "-c", probe, str(dest)], capture_output=True, text=True, check=False)
    assert proc.returncode == 3 and "INVALID_SIGNATURE" in proc.stdout, proc.stdout + proc.stderr
    run_module(admin_kit_main, args)
    proc = subprocess.run([NV27, "-c", probe, str(dest)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
