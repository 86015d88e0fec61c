# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Job folders the job module accepts (every meta/config format NVFLARE reads, parsed by NVFLARE's own
loaders) and the symlinks it refuses. No federation needed: these run before any connection."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.edgefl.nvflare.plugins.module_utils import _flare_job as fj
from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import InvalidJob, job_folder_token

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE_JOB = os.path.join(REPO, "playbooks", "files", "jobs", "numpy_fedavg")
NVFLARE = os.path.join(os.path.dirname(sys.executable), "nvflare")


def _json(path):
    with open(path) as f:
        return json.load(f)


def _to_hocon(data):
    """JSON is valid HOCON; write it the way people write .conf files (unquoted keys, no commas)."""
    if isinstance(data, dict):
        return "{\n" + "\n".join("%s = %s" % (k, _to_hocon(v)) for k, v in data.items()) + "\n}"
    if isinstance(data, list):
        return "[" + ", ".join(_to_hocon(v) for v in data) + "]"
    return json.dumps(data)


def _to_yaml(data):
    import yaml

    return yaml.safe_dump(data, default_flow_style=False)


def convert(dst, ext):
    """Rewrite the example job's meta and configs as <name><ext>."""
    shutil.copytree(EXAMPLE_JOB, dst)
    writer = {".conf": _to_hocon, ".yml": _to_yaml, ".yaml": _to_yaml}[ext]
    for rel in ("meta", "app/config/config_fed_client", "app/config/config_fed_server"):
        src = os.path.join(dst, rel + ".json")
        data = _json(src)
        os.remove(src)
        with open(os.path.join(dst, rel + ext), "w") as f:
            f.write(writer(data))
    return dst


@pytest.mark.parametrize("ext", [".conf", ".yml", ".yaml"])
def test_every_meta_format_is_read_by_nvflare_loaders(tmp_path, ext):
    src = convert(str(tmp_path / "np_job"), ext)
    try:
        import omegaconf  # noqa: F401  pylint: disable=unused-import

        have_omegaconf = True
    except ImportError:
        have_omegaconf = False
    if ext == ".conf" or have_omegaconf:
        meta = fj.check_job_folder(src)
        assert meta == _json(os.path.join(EXAMPLE_JOB, "meta.json"))
    else:
        # NVFLARE reads .yml with OmegaConf, an optional package: a clear error, not a traceback
        with pytest.raises(InvalidJob) as exc:
            fj.check_job_folder(src)
        assert "meta%s" % ext in exc.value.msg and "pip install omegaconf" in exc.value.msg, exc.value.msg


def test_meta_json_example():
    assert fj.check_job_folder(EXAMPLE_JOB)["deploy_map"] == {"app": ["@ALL"]}


def test_nvflare_job_create_folder_is_accepted(tmp_path):
    """A job written by `nvflare job create` (meta.conf, .conf configs) from a local template."""
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    for name in ("config_fed_client", "config_fed_server"):
        shutil.copy(os.path.join(EXAMPLE_JOB, "app", "config", name + ".json"), str(tpl / (name + ".conf")))
    shutil.copy(os.path.join(EXAMPLE_JOB, "meta.json"), str(tpl / "meta.conf"))
    (tpl / "info.conf").write_text('description = "numpy fedavg"\nclient_category = "client_api"\ncontroller_type = "server"\n')
    job = tmp_path / "np_conf"
    proc = subprocess.run(
        [NVFLARE, "job", "create", "-j", str(job), "-w", str(tpl), "-sd", os.path.join(EXAMPLE_JOB, "app", "custom"), "-force"],
        capture_output=True, text=True, env=dict(os.environ, HOME=str(tmp_path)), check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (job / "meta.conf").is_file() and not (job / "meta.json").exists()
    meta = fj.check_job_folder(str(job))
    assert meta["name"] == "np_conf" and meta["min_clients"] == 2


@pytest.mark.parametrize(
    "breakage, words",
    [
        (lambda d: os.remove(os.path.join(d, "meta.json")), ["no meta.json, meta.conf or meta.yml", "not an NVFLARE job"]),
        (lambda d: open(os.path.join(d, "meta.json"), "w").write("{not json"), ["cannot read meta.json"]),
        (lambda d: open(os.path.join(d, "meta.json"), "w").write("[1, 2]"), ["does not hold a mapping"]),
        (lambda d: shutil.rmtree(os.path.join(d, "app")), ["app 'app' of deploy_map has no folder"]),
        (lambda d: shutil.rmtree(os.path.join(d, "app", "config")), ["app 'app' has no config/config_fed_server"]),
    ],
)
def test_not_a_job_is_a_clear_error(tmp_path, breakage, words):
    _assert_refused(tmp_path, breakage, words)


def _assert_refused(tmp_path, breakage, words):
    """The example job, broken by BREAKAGE, is refused by check_job_folder with each of WORDS in the message."""
    src = str(tmp_path / "job")
    shutil.copytree(EXAMPLE_JOB, src)
    breakage(src)
    with pytest.raises(InvalidJob) as exc:
        fj.check_job_folder(src)
    for w in words:
        assert w in exc.value.msg, exc.value.msg


def test_a_downloaded_job_result_names_the_job_inside_it(tmp_path):
    """A job's downloaded result (<dest>/<job id>: the server's meta.json, job/<name>/, workspace/) given as src."""
    result = tmp_path / "0b3c-job-id"
    shutil.copytree(EXAMPLE_JOB, str(result / "job" / "numpy_fedavg"))
    (result / "workspace").mkdir()
    shutil.copy(os.path.join(EXAMPLE_JOB, "meta.json"), str(result / "meta.json"))
    with pytest.raises(InvalidJob, match="a job's downloaded result.*give %s as src" % (result / "job")):
        fj.check_job_folder(str(result))
    assert fj.resolve_job_folder(str(result / "job")) == str(result / "job" / "numpy_fedavg")


def test_broken_meta_conf_is_reported_with_its_name(tmp_path):
    src = convert(str(tmp_path / "job"), ".conf")
    with open(os.path.join(src, "meta.conf"), "a") as f:
        f.write("\nbroken = {{{\n")
    with pytest.raises(InvalidJob, match="cannot read meta.conf"):
        fj.check_job_folder(src)


def _server_only(d):
    _edited_meta(d, deploy_map={"app": ["server"]}, min_clients=None)


def _one_file(d, rel, text):
    with open(os.path.join(d, rel), "w") as f:
        f.write(text)


@pytest.mark.parametrize("breakage, words", [
    # NVFLARE's job check raises StopIteration on it, which the server reports as a bare exception
    (_server_only, ["deploys to the server only", "at least one client", "@ALL"]),
    # the server's job check parses config_fed_server; a client parses config_fed_client at deploy time
    (lambda d: (os.remove(os.path.join(d, "app", "config", "config_fed_server.json")),
                _one_file(d, "app/config/config_fed_server.conf", "workflows = [ {{{\n")),
     ["cannot read config_fed_server.conf"]),
    (lambda d: _one_file(d, "app/config/config_fed_client.json", "{not json"), ["cannot read config_fed_client.json"]),
    (lambda d: os.remove(os.path.join(d, "app", "config", "config_fed_client.json")),
     ["app 'app' is deployed to a client but has no config/config_fed_client file"]),
    # an include of a file the job does not hold
    (lambda d: (os.remove(os.path.join(d, "meta.json")),
                _one_file(d, "meta.conf", 'include required("deploy.conf")\nname = x\nmin_clients = 2\n')),
     ["cannot read meta.conf (with what it includes)"]),
])
def test_what_the_server_would_fail_on_is_a_clear_error(tmp_path, breakage, words):
    """Job folders NVFLARE's server refuses only with a bare "exception <class ...> occurred" (or a client fails
    on at deploy time) are refused before connecting, with what to change."""
    _assert_refused(tmp_path, breakage, words)


def _with_yml_config(tmp_path, base):
    """A copy of the example job whose app config BASE is written as .yml instead of .json."""
    src = str(tmp_path / "job")
    shutil.copytree(EXAMPLE_JOB, src)
    path = os.path.join(src, "app", "config", base)
    data = _json(path + ".json")
    os.remove(path + ".json")
    with open(path + ".yml", "w") as f:
        f.write(_to_yaml(data))
    return src


def test_a_yml_app_config_needs_omegaconf(tmp_path):
    """NVFLARE reads .yml with omegaconf, which nvflare does not install by itself (its 'config' extra does)."""
    src = _with_yml_config(tmp_path, "config_fed_server")
    try:
        import omegaconf  # noqa: F401  pylint: disable=unused-import
    except ImportError:
        with pytest.raises(InvalidJob) as exc:
            fj.check_job_folder(src)
        assert "config_fed_server.yml" in exc.value.msg and "nvflare_venv_extras: [config]" in exc.value.msg
    else:  # pragma: no cover - omegaconf is not in the toolchain
        assert fj.check_job_folder(src)["name"] == "numpy_fedavg"


def test_a_yml_client_config_without_omegaconf_here_is_a_warning(tmp_path):
    """The server never reads config_fed_client: without omegaconf on the control node the job is submitted (the
    clients need it), with a warning that says the file was not checked."""
    try:
        import omegaconf  # noqa: F401  pylint: disable=unused-import
    except ImportError:
        pass
    else:  # pragma: no cover - omegaconf is not in the toolchain
        pytest.skip("omegaconf is installed: the file is checked")
    src = _with_yml_config(tmp_path, "config_fed_client")
    said = []
    with fj.staged_job(src, warn=said.append) as staged:
        assert os.path.isfile(os.path.join(staged, "app", "config", "config_fed_client.yml"))
    assert len(said) == 1 and "config_fed_client.yml is not checked here" in said[0], said
    with pytest.raises(InvalidJob, match="config_fed_client.yml"):
        fj.check_job_folder(src)  # no one to warn: refused as before


def test_a_crash_of_nvflares_own_job_check_is_a_refusal(tmp_path):
    """NVFLARE's job check turns only ValueError into a refusal; a job it crashes on (here mandatory_clients as a
    number: set(1)) is refused before connecting, naming the exception, instead of being passed to the server."""
    with fj.staged_job(EXAMPLE_JOB) as staged:
        _edited_meta(staged, deploy_map={"app": ["server", "site-1"]}, min_clients=1, mandatory_clients=1)
        said = fj.nvflare_refusal(staged)
    assert said.startswith("NVFLARE's own job check fails on it with TypeError"), said


def test_the_token_meta_is_written_into_the_meta_nvflare_reads(tmp_path):
    """Before NVFLARE 2.8 (and for a job with a file the server will not hash) the token goes into the job's meta:
    into whichever meta file NVFLARE reads, .default ones included, written back as meta.json."""
    from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import TOKEN_META_KEY, _write_token_meta

    for name in ("meta.json.default", "meta.conf"):
        src = str(tmp_path / name)
        shutil.copytree(EXAMPLE_JOB, src)
        if name == "meta.conf":
            data = _json(os.path.join(src, "meta.json"))
            _one_file(src, "meta.conf", _to_hocon(data))
        else:
            os.rename(os.path.join(src, "meta.json"), os.path.join(src, name))
        if name != "meta.json.default":
            os.remove(os.path.join(src, "meta.json"))
        assert fj.check_job_folder(src)["name"] == "numpy_fedavg"
        _write_token_meta(src, "edgefl-t-1", "abc")
        assert sorted(n for n in os.listdir(src) if n.startswith("meta")) == ["meta.json"], os.listdir(src)
        meta = _json(os.path.join(src, "meta.json"))
        assert meta[TOKEN_META_KEY] == "edgefl-t-1" and meta["deploy_map"] == {"app": ["@ALL"]}, meta


def test_oversized_files_are_listed(tmp_path):
    from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import oversized_files

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "big").write_bytes(b"x" * 11)
    (tmp_path / "small").write_bytes(b"x" * 10)
    os.symlink("a/big", str(tmp_path / "link"))
    assert oversized_files(str(tmp_path), 10) == [os.path.join("a", "big")]
    assert oversized_files(str(tmp_path), None) == []


# --- symlinks -----------------------------------------------------------------------------------

@pytest.fixture
def job(tmp_path):
    src = tmp_path / "ws" / "jobs" / "np"
    shutil.copytree(EXAMPLE_JOB, str(src))
    secret = tmp_path / "ws" / "state"
    secret.mkdir()
    (secret / "cert.json").write_text('{"root_key": "-----BEGIN PRIVATE KEY-----"}')
    return src


def _staged_files(src):
    with fj.staged_job(str(src)) as copy:
        files = {}
        for base, _dirs, names in os.walk(copy):
            for n in names:
                p = os.path.join(base, n)
                assert not os.path.islink(p)
                with open(p) as f:
                    files[os.path.relpath(p, copy)] = f.read()
        return os.path.basename(copy), files


@pytest.mark.parametrize(
    "link, target",
    [
        ("app/custom/cert.json", "../../../../state/cert.json"),  # relative, leaves the folder
        ("app/custom/state", "../../../../state"),  # a directory outside
        ("ca.json", "ABS"),  # absolute path outside
    ],
)
def test_link_outside_the_job_is_refused_and_named(job, link, target):
    state = os.path.join(str(job), "..", "..", "state")
    if target == "ABS":
        target = os.path.realpath(os.path.join(state, "cert.json"))
    os.symlink(target, os.path.join(str(job), link))
    with pytest.raises(InvalidJob) as exc:
        _staged_files(job)
    assert link in exc.value.msg and "points outside the job folder" in exc.value.msg, exc.value.msg
    assert exc.value.details["link"] == link


def test_dangling_link_is_refused(job):
    os.symlink("nowhere.py", os.path.join(str(job), "app", "custom", "gone.py"))
    with pytest.raises(InvalidJob, match=r"app/custom/gone.py -> nowhere.py is dangling"):
        _staged_files(job)


def test_loop_link_is_refused(job):
    os.symlink("..", os.path.join(str(job), "app", "custom", "up"))
    with pytest.raises(InvalidJob, match="a loop"):
        _staged_files(job)


def test_links_inside_are_followed_and_hashed(job, tmp_path):
    plain = tmp_path / "plain" / "np"
    shutil.copytree(str(job), str(plain))
    name, plain_files = _staged_files(plain)
    with fj.staged_job(str(plain)) as copy:
        plain_token = job_folder_token(copy)
    assert plain_token == job_folder_token(str(plain)), "a folder without links keeps its token"

    # the client script moved into a shared folder of the job and linked back, file and directory links
    custom = os.path.join(str(job), "app", "custom")
    os.makedirs(os.path.join(str(job), "shared"))
    shutil.move(os.path.join(custom, "numpy_fedavg_client.py"), os.path.join(str(job), "shared", "client.py"))
    os.symlink("../../shared/client.py", os.path.join(custom, "numpy_fedavg_client.py"))
    os.symlink("../../shared", os.path.join(custom, "lib"))
    name, files = _staged_files(job)
    assert name == "np"
    assert files["app/custom/numpy_fedavg_client.py"] == plain_files["app/custom/numpy_fedavg_client.py"]
    assert files["app/custom/lib/client.py"] == plain_files["app/custom/numpy_fedavg_client.py"]
    with fj.staged_job(str(job)) as copy:
        linked_token = job_folder_token(copy)
    # editing the linked file changes the token (the link's content counts, not the link)
    with open(os.path.join(str(job), "shared", "client.py"), "a") as f:
        f.write("\n# edited\n")
    with fj.staged_job(str(job)) as copy:
        assert job_folder_token(copy) != linked_token


def test_job_folder_reached_through_a_link(job, tmp_path):
    alias = tmp_path / "alias"
    os.symlink(str(job), str(alias))
    name, files = _staged_files(alias)
    assert name == "alias" and "meta.json" in files


def test_module_refuses_link_before_connecting(job, tmp_path, run_module):
    from ansible_collections.edgefl.nvflare.plugins.modules import job as job_module

    os.symlink(os.path.realpath(os.path.join(str(job), "..", "..", "state", "cert.json")), os.path.join(str(job), "ca.json"))
    kit = tmp_path / "admin@nvidia.com" / "startup"
    kit.mkdir(parents=True)
    (kit / "fed_admin.json").write_text("{}")
    res = run_module(job_module.main, {"admin_kit": str(kit.parent), "src": str(job), "connect_timeout": 1})
    assert res["failed"] and res["error"] == "invalid_job" and "ca.json" in res["msg"], res
    assert not res["changed"]


def _renamed_app(src, old, new):
    os.rename(os.path.join(src, old), os.path.join(src, new))
    meta = _json(os.path.join(src, "meta.json"))
    meta["deploy_map"] = {new: meta["deploy_map"][old]}
    with open(os.path.join(src, "meta.json"), "w") as f:
        json.dump(meta, f)


def test_names_nvflare_refuses_are_refused_before_connecting(tmp_path, run_module):
    """NVFLARE's server refuses an app name outside its job-name pattern: reported as invalid_job before any
    connection, in check mode too, naming the app. A folder name outside it is what `nvflare job submit` accepts by
    submitting a copy under another name: the staged copy gets one."""
    from ansible_collections.edgefl.nvflare.plugins.modules import job as job_module

    assert fj.job_name_rule() == r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # NVFLARE 2.9's own rule, read from NVFLARE
    kit = tmp_path / "admin@nvidia.com" / "startup"
    kit.mkdir(parents=True)
    (kit / "fed_admin.json").write_text("{}")
    spaced = str(tmp_path / "my job")
    shutil.copytree(EXAMPLE_JOB, spaced)
    with fj.staged_job(spaced) as staged:
        assert os.path.basename(staged) == "my-job" and fj.check_job_folder(staged)["name"] == "numpy_fedavg"
    assert fj.staged_name("_x y", fj.job_name_rule()) == "job-_x-y"
    assert fj.staged_name("np.v1_2-b", fj.job_name_rule()) == "np.v1_2-b"
    bad_app = str(tmp_path / "bad_app")
    shutil.copytree(EXAMPLE_JOB, bad_app)
    _renamed_app(bad_app, "app", "app 1")
    for check_mode in (False, True):
        res = run_module(job_module.main, {"admin_kit": str(kit.parent), "src": bad_app, "connect_timeout": 1},
                         check_mode=check_mode)
        assert res["failed"] and res["error"] == "invalid_job", res
        assert "app 'app 1' of deploy_map is not a name NVFLARE accepts for an app" in res["msg"], res
    # the app's name comes before its files
    shutil.rmtree(os.path.join(bad_app, "app 1"))
    with pytest.raises(InvalidJob, match="app 'app 1' of deploy_map is not a name NVFLARE accepts"):
        fj.check_job_folder(bad_app)
    # dots, underscores and hyphens are fine, in the folder and in an app's name
    good = str(tmp_path / "np.v1_2-b")
    shutil.copytree(EXAMPLE_JOB, good)
    _renamed_app(good, "app", "app_site-1.v2")
    assert fj.check_job_folder(good)["name"] == "numpy_fedavg"


def _edited_meta(src, **changes):
    meta = _json(os.path.join(src, "meta.json"))
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    with open(os.path.join(src, "meta.json"), "w") as f:
        json.dump(meta, f)


@pytest.mark.parametrize("changes, said", [
    ({"deploy_map": None}, "deploy_map is empty"),
    ({"deploy_map": {"app": ["site-1", "site-2"]}}, "Missing server site in deploy_map"),
    ({"deploy_map": {"app": ["server", "site-1", "site-2"]}, "min_clients": 3}, "min 3 clients required"),
    ({"deploy_map": {"app": ["server", "site-1"]}, "min_clients": 1, "mandatory_clients": ["site-2"]}, "Mandatory clients"),
    ({"deploy_map": {"app": ["@ALL", "site-1"]}}, "No other site can be specified"),
])
def test_what_nvflares_own_job_check_refuses_is_refused_before_connecting(tmp_path, run_module, changes, said):
    """NVFLARE's JobMetaValidator (what the server runs on every submitted job) runs on the staged copy: its
    refusals fail with invalid_job and NVFLARE's own words, in check mode too, before any connection."""
    from ansible_collections.edgefl.nvflare.plugins.modules import job as job_module

    kit = tmp_path / "admin@nvidia.com" / "startup"
    kit.mkdir(parents=True)
    (kit / "fed_admin.json").write_text("{}")
    src = str(tmp_path / "np")
    shutil.copytree(EXAMPLE_JOB, src)
    _edited_meta(src, **changes)
    for check_mode in (True, False):
        res = run_module(job_module.main, {"admin_kit": str(kit.parent), "src": src, "connect_timeout": 1},
                         check_mode=check_mode)
        assert res["failed"] and res["error"] == "invalid_job", res
        assert res["msg"].startswith("NVFLARE refuses the job folder %s: " % src) and said in res["msg"], res


def test_nvflares_own_job_check_accepts_the_example_and_site_lists():
    with fj.staged_job(EXAMPLE_JOB) as staged:
        assert fj.nvflare_refusal(staged) == ""
        _edited_meta(staged, deploy_map={"app": ["server", "site-1", "site-2"]}, min_clients=2)
        assert fj.nvflare_refusal(staged) == ""


def test_a_folder_holding_one_job_is_resolved_as_nvflare_job_submit_does(tmp_path):
    """`nvflare job submit -j <dir>` submits the only sub-folder of <dir> when <dir> is not itself a job and that
    sub-folder is (the layout of a recipe's export); with two job folders inside, nothing is guessed."""
    export = tmp_path / "export"
    shutil.copytree(EXAMPLE_JOB, str(export / "numpy_fedavg"))
    (export / ".cache").mkdir()  # hidden folders do not count
    assert fj.resolve_job_folder(str(export)) == str(export / "numpy_fedavg")
    assert fj.resolve_job_folder(str(export / "numpy_fedavg")) == str(export / "numpy_fedavg")
    shutil.copytree(EXAMPLE_JOB, str(export / "second"))
    assert fj.resolve_job_folder(str(export)) == str(export)
    with pytest.raises(InvalidJob, match="It holds the job folders numpy_fedavg, second: give one of them as src"):
        fj.check_job_folder(str(export))
    assert fj.resolve_job_folder(str(tmp_path / "missing")) == str(tmp_path / "missing")


def test_a_legacy_app_folder_is_named_with_the_layout_to_use(tmp_path):
    """An app folder of the layout before jobs (config/ at the top, no meta), which NVFLARE's submit refuses ("possible
    in legacy job format"): the error says so and shows the meta to add."""
    legacy = tmp_path / "legacy_app"
    shutil.copytree(os.path.join(EXAMPLE_JOB, "app"), str(legacy))
    with pytest.raises(InvalidJob, match=r"is an app folder \(config/ at its top, no meta file\)") as exc:
        fj.check_job_folder(str(legacy))
    assert '"deploy_map": {"app": ["@ALL"]}' in str(exc.value)
    # made into a job folder as the message says, it passes
    job = tmp_path / "legacy_job"
    shutil.copytree(str(legacy), str(job / "app"))
    (job / "meta.json").write_text(json.dumps({"name": "legacy", "deploy_map": {"app": ["@ALL"]}, "min_clients": 2}))
    with fj.staged_job(str(job)) as staged:
        assert os.path.basename(staged) == "legacy_job"


@pytest.mark.parametrize("value", ["2", 2.5, True, [2]])
def test_a_min_clients_nvflares_scheduler_never_reaches_is_refused(tmp_path, value):
    """NVFLARE's job check reads min_clients with int(), so "2" and 2.5 pass it, but its scheduler compares the
    site count with the value itself and the job stays SUBMITTED for ever (seen on a real federation)."""
    _assert_refused(tmp_path, lambda d: _edited_meta(d, min_clients=value),
                    ["min_clients in meta.json is %r" % (value,), "write a whole number without quotes"])


def test_a_whole_min_clients_is_accepted_as_int_or_float(tmp_path):
    for value in (2, 2.0):
        src = str(tmp_path / ("job%s" % value).replace(".", "_"))
        shutil.copytree(EXAMPLE_JOB, src)
        _edited_meta(src, min_clients=value)
        assert fj.check_job_folder(src)["min_clients"] == value


def test_an_app_name_that_is_no_string_is_refused():
    """meta.yml's deploy_map {2024: [...]}: YAML reads the key as a number (the check crashed in os.path.join)."""
    with pytest.raises(InvalidJob, match="app 2024 of deploy_map is a int, not a name"):
        fj._check_app_name("job", 2024, fj.job_name_rule())  # pylint: disable=protected-access


def test_a_relative_src_is_staged_and_hashed_as_its_absolute_path(tmp_path, monkeypatch):
    """src "." (Ansible's path type does not make a path absolute) names the folder itself: the same staged name and
    default submit token as its absolute path, not "job-." and a second submission of the same job."""
    src = tmp_path / "numpy_fedavg"
    shutil.copytree(EXAMPLE_JOB, str(src))
    with fj.staged_job(str(src)) as staged:
        absolute = (os.path.basename(staged), job_folder_token(staged))
    monkeypatch.chdir(str(src))
    for spelled in (".", "./", os.path.join("..", "numpy_fedavg")):
        with fj.staged_job(spelled) as staged:
            assert (os.path.basename(staged), job_folder_token(staged)) == absolute, spelled


def _env_config(d, rel, text):
    os.remove(os.path.join(d, rel + ".json"))
    _one_file(d, rel + ".conf", text)


def test_a_client_config_value_from_the_sites_environment_is_accepted_with_a_warning(tmp_path, monkeypatch):
    """${VAR} in config_fed_client.conf is resolved by each client from its own environment (the FLARE API uploads
    the file as it is): refused before because this control node did not set it; the job completes on sites
    that set it."""
    monkeypatch.delenv("EDGEFL_TEST_SITE_DATA_ROOT", raising=False)
    src = str(tmp_path / "job")
    shutil.copytree(EXAMPLE_JOB, src)
    client = _json(os.path.join(src, "app", "config", "config_fed_client.json"))
    client["data_root"] = "${EDGEFL_TEST_SITE_DATA_ROOT}"
    text = json.dumps(client).replace('"${EDGEFL_TEST_SITE_DATA_ROOT}"', "${EDGEFL_TEST_SITE_DATA_ROOT}")
    _env_config(src, "app/config/config_fed_client", text)
    said = []
    fj.check_job_folder(src, warn=said.append)
    assert len(said) == 1 and "config_fed_client.conf" in said[0] and "EDGEFL_TEST_SITE_DATA_ROOT" in said[0], said
    assert "each client resolves it" in said[0] and "this control node does not set it either" in said[0], said
    with fj.staged_job(src) as staged:
        assert os.path.isfile(os.path.join(staged, "app", "config", "config_fed_client.conf"))


def test_a_server_config_value_from_the_environment_warns_that_the_server_resolves_it(tmp_path, monkeypatch):
    """The server resolves ${VAR} of config_fed_server.conf from its own environment, not from this control node's:
    set here only, the submission fails on the server; so it is accepted with a warning either way."""
    monkeypatch.setenv("EDGEFL_TEST_ROUNDS", "2")
    src = str(tmp_path / "job")
    shutil.copytree(EXAMPLE_JOB, src)
    server = json.dumps(_json(os.path.join(src, "app", "config", "config_fed_server.json")))
    _env_config(src, "app/config/config_fed_server", "{\"edgefl_rounds\": ${EDGEFL_TEST_ROUNDS}, " + server[1:])
    said = []
    fj.check_job_folder(src, warn=said.append)
    assert len(said) == 1 and "config_fed_server.conf" in said[0] and "the server resolves it" in said[0], said
    assert "this control node sets it, make sure the server does too" in said[0], said
    assert os.environ["EDGEFL_TEST_ROUNDS"] == "2"  # the control node's environment is back


def _include_job(tmp_path):
    """The example job with an include in meta.conf and in config_fed_server.conf, as a template may write them."""
    src = str(tmp_path / "include_job")
    shutil.copytree(EXAMPLE_JOB, src)
    meta = _json(os.path.join(src, "meta.json"))
    os.remove(os.path.join(src, "meta.json"))
    _one_file(src, "deploy.conf", "deploy_map = %s\n" % json.dumps(meta.pop("deploy_map")))
    _one_file(src, "meta.conf", 'include required("deploy.conf")\n' + json.dumps(meta)[1:-1].replace(", ", "\n") + "\n")
    _one_file(src, "app/config/common.conf", "rounds_from_include = 2\n")
    server = json.dumps(_json(os.path.join(src, "app", "config", "config_fed_server.json")))
    _env_config(src, "app/config/config_fed_server",
                'include "common.conf"\nextra = ${rounds_from_include}\n' + server[1:-1] + "\n")
    return src


def test_includes_are_merged_into_the_staged_copy_as_nvflare_job_submit_does(tmp_path):
    """The server reads the meta and config_fed_server from the uploaded zip, where an include cannot reach another
    file; `nvflare job submit` saves every config with its includes merged before it uploads (a real submit of
    such a job completes, test_job.py). The staged copy gets them merged; the user's folder is left as it is."""
    src = _include_job(tmp_path)
    meta = fj.check_job_folder(src)
    assert meta["deploy_map"] == {"app": ["@ALL"]} and meta["min_clients"] == 2, meta
    with fj.staged_job(src) as staged:
        for rel in ("meta.conf", os.path.join("app", "config", "config_fed_server.conf")):
            with open(os.path.join(staged, rel)) as f:
                text = f.read()
            assert "include required" not in text and 'include "' not in text, text
            data = json.loads(text)  # JSON, which HOCON reads
            assert data.get("extra", 2) == 2 and data.get("deploy_map", {"app": ["@ALL"]}) == {"app": ["@ALL"]}
        assert fj.nvflare_refusal(staged) == ""
    with open(os.path.join(src, "meta.conf")) as f:
        assert f.read().startswith('include required("deploy.conf")')


def test_a_client_config_including_a_file_outside_its_app_is_merged_for_the_client(tmp_path):
    """A client receives its app folder alone (the server's job_runner sends each site its app), where an include
    of ../../common_client.conf is missing and pyhocon skips it without a word: the client's config would be empty.
    `nvflare job submit` saves every app config with its includes merged; so does the staged copy."""
    src = str(tmp_path / "client_include")
    shutil.copytree(EXAMPLE_JOB, src)
    client = os.path.join(src, "app", "config", "config_fed_client.json")
    shutil.move(client, os.path.join(src, "common_client.conf"))
    _one_file(src, "app/config/config_fed_client.conf", 'include "../../common_client.conf"\n')
    fj.check_job_folder(src)
    with fj.staged_job(src) as staged:
        app_alone = str(tmp_path / "site-1-app")
        shutil.copytree(os.path.join(staged, "app"), app_alone)  # what a client gets
        loader = fj.ConfigFactory.get_config_loader(fj.ConfigFormat.PYHOCON)
        data = loader.load_config(file_path=os.path.join(app_alone, "config", "config_fed_client.conf")).to_dict()
        assert data == _json(os.path.join(EXAMPLE_JOB, "app", "config", "config_fed_client.json"))
    # the user's folder keeps its include
    with open(os.path.join(src, "app", "config", "config_fed_client.conf")) as f:
        assert f.read().startswith('include "../../common_client.conf"')


def test_a_zipped_job_is_refused_with_the_advice_to_unzip_it(tmp_path):
    archive = shutil.make_archive(str(tmp_path / "numpy_fedavg"), "zip", os.path.dirname(EXAMPLE_JOB), "numpy_fedavg")
    with pytest.raises(InvalidJob) as exc:
        fj.check_job_folder(archive)
    assert "is a zip file" in exc.value.msg and "unzip %s -d <folder>" % archive in exc.value.msg, exc.value.msg
    with pytest.raises(InvalidJob) as exc:
        fj.check_job_folder(str(tmp_path))
    assert "It holds numpy_fedavg.zip: unzip it" in exc.value.msg, exc.value.msg


def test_a_job_id_in_the_meta_is_left_to_nvflares_own_check_from_28():
    """NVFLARE 2.8+ checks a meta's job_id (format_check.check_job_id) and never replaces a job; the module's own
    refusal is for the lines before (tests/versions runs them)."""
    fj._check_job_id("job", "meta.json", "a-downloaded-job-id")  # pylint: disable=protected-access


@pytest.mark.parametrize("deployments", [["@ALL"], "@ALL", {"sites": ["@ALL"]}, {"targets": ["server", "site-1"]},
                                         [{"sites": ["server"]}, "site-1"], [{"targets": ["server", "site-1"]}]])
def test_every_deploy_map_form_of_29_passes_the_form_check(deployments):
    fj._check_deploy_form("job", "app", deployments)  # pylint: disable=protected-access


@pytest.mark.parametrize("name, rule, staged", [
    ("my job", None, "my-job"), ('say "hi"', None, "say--hi-"), ("job+1", None, "job+1"),
    ("my job", "^[A-Za-z0-9][A-Za-z0-9._-]*$", "my-job"), ("job+1", "^[A-Za-z0-9][A-Za-z0-9._-]*$", "job-1"),
])
def test_the_staged_name_is_one_the_submit_command_carries(name, rule, staged):
    """Before 2.8 (no rule) the FLARE API sends 'submit_job <path>' split at spaces; other names stay as they were
    (their default submit token with them)."""
    assert fj.staged_name("/x/" + name, rule) == staged
