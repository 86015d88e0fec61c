# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This module_utils file is private to the edgefl.nvflare collection. It is not
# part of the public API and may change without notice; do not use it from other collections.

"""What the edgefl.nvflare.job module does, independent of AnsibleModule."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile

from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import (
    SUCCESS_STATUS,
    TOKEN_RE,
    FlareClient,
    FlareError,
    InvalidJob,
    JobFailed,
    WaitTimeout,
    check_admin_kit,
    deploy_sites,
    file_sizes,
    is_terminal,
    job_folder_token,
    oversized_files,
    participants,
    server_hash_limit,
)

try:
    from nvflare.fuel.utils.config import ConfigFormat
    from nvflare.fuel.utils.config_factory import ConfigFactory
except ImportError:  # pragma: no cover - reported by the module through missing_required_lib
    ConfigFormat = ConfigFactory = None

# What NVFLARE itself writes next to the job (signatures); never part of what we submit or hash.
_NVFL_ARTIFACTS = ".__nvfl_*"

META_KEYS = (
    "name",
    "job_folder_name",
    "min_clients",
    "submitter_name",
    "submit_time_iso",
    "start_time",
    "duration",
    "status",
    "job_deploy_detail",
    "study",
)


def _inside(path, root):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_links(src):
    """Refuse symbolic links that leave the job folder, dangle or loop; links inside it are followed.

    Everything a link points at is copied into the submitted job and sent to every site, so a link to
    e.g. the control node's provisioning state (state/cert.json holds the root CA key) would ship that
    file. The job folder itself may be reached through a link (``src`` is resolved first).
    """
    root = os.path.realpath(src)
    for base, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = os.path.join(base, name)
            if not os.path.islink(path):
                continue
            shown = os.path.relpath(path, root)
            target = os.readlink(path)
            real = os.path.realpath(path)
            if not os.path.exists(real):
                raise InvalidJob(
                    "job folder %s: symlink %s -> %s is dangling (its target does not exist): remove the link "
                    "or copy the file into the job folder" % (src, shown, target),
                    link=shown,
                )
            if not _inside(real, root):
                raise InvalidJob(
                    "job folder %s: symlink %s -> %s points outside the job folder (to %s); it would be copied "
                    "into the job and sent to every site. Refusing to submit: copy what the job needs into the "
                    "job folder instead" % (src, shown, target, real),
                    link=shown,
                )
            if os.path.isdir(real) and _inside(base, real):
                raise InvalidJob(
                    "job folder %s: symlink %s -> %s points at a folder that contains it (a loop): remove it"
                    % (src, shown, target),
                    link=shown,
                )


def job_name_rule():
    """The pattern this NVFLARE holds job folder names and app names to (its format_check 'job_name'; 2.9:
    ``^[A-Za-z0-9][A-Za-z0-9._-]*$``), or None where this NVFLARE has no such rule."""
    try:
        from nvflare.apis.utils import format_check  # pylint: disable=import-outside-toplevel
    except ImportError:  # pragma: no cover - nvflare is required by the module
        return None
    return getattr(format_check, "type_pattern_mapping", {}).get("job_name")


def staged_name(folder, rule=None):
    """The name the staged copy of ``folder`` is submitted under: the folder's own name when NVFLARE accepts it as a
    job folder name (``rule``: job_name_rule()), else that name with every other character made '-' (and 'job-'
    before it when it does not start with a letter or digit). The FLARE API refuses such a folder, and
    ``nvflare job submit`` accepts it by submitting a copy under a temporary name; the job's name is its meta's."""
    # abspath: "." or "jobs/x/.." name the folder itself, as an absolute path to it does (the default submit token
    # holds this name); links are not resolved, as nvflare job submit does not
    name = os.path.basename(os.path.normpath(os.path.abspath(folder)))
    if rule is None:
        # NVFLARE before 2.8 has no name rule, but its FLARE API sends "submit_job <path>" as one command line that
        # the server splits at spaces (a quote starts a quoted argument): such a name never reaches the server
        return re.sub(r"[\s\"']", "-", name)
    if re.match(rule, name):
        return name
    name = re.sub(r"[^A-Za-z0-9._-]", "-", name)
    return name if re.match(r"[A-Za-z0-9]", name) else "job-" + name


_SUBMIT_EXTS = (".json", ".conf", ".yml", ".yaml")  # what `nvflare job submit` looks for when it resolves a folder


def _submittable(path):
    return (any(os.path.isfile(os.path.join(path, "meta" + ext)) for ext in _SUBMIT_EXTS)
            and any(os.path.isfile(os.path.join(path, "app", "config", "config_fed_server" + ext)) for ext in _SUBMIT_EXTS))


def _subfolders(path):
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return []
    return [os.path.join(path, n) for n in names if not n.startswith(".") and os.path.isdir(os.path.join(path, n))]


def resolve_job_folder(src):
    """The folder ``nvflare job submit -j src`` submits: ``src`` when it holds a meta file and app/config/
    config_fed_server, else its only sub-folder (hidden ones aside) when that one does - the layout a recipe's
    export and FedJob.export_job write, ``<export dir>/<job name>/`` - else ``src``, which is then checked."""
    if not os.path.isdir(src) or _submittable(src):
        return src
    subs = _subfolders(src)
    if len(subs) == 1 and _submittable(subs[0]):
        return subs[0]
    return src


def _check_app_name(src, app, rule):
    """Refuse, before connecting, an app name the server would refuse."""
    if not isinstance(app, str):
        raise InvalidJob(
            "job folder %s: app %r of deploy_map is a %s, not a name (YAML reads an unquoted 2024 or 1.0 as a "
            "number): quote it in the meta file" % (src, app, type(app).__name__)
        )
    if rule and not re.match(rule, str(app)):
        raise InvalidJob(
            "job folder %s: app %r of deploy_map is not a name NVFLARE accepts for an app (pattern %s): rename "
            "the app folder and its deploy_map key" % (src, app, rule)
        )


def _find_config(folder, basename):
    """(format, path) of ``<basename>.<ext>`` directly in folder, in NVFLARE's own extension order."""
    for ext, fmt in ConfigFormat.config_ext_formats().items():
        path = os.path.join(folder, basename + ext)
        if os.path.isfile(path):
            return fmt, path
    return None, None


_NEEDS_PACKAGE = ("install it next to nvflare on the control node (pip install omegaconf for .yml, pyhocon for .conf) "
                  "and on every site (nvflare_venv_extras: [config] installs nvflare[config], which brings omegaconf), "
                  "or write the file as .json")


# what NVFLARE's loaders raise on a ${...} they cannot resolve (pyhocon; omegaconf's ${oc.env:...})
_SUBSTITUTION_ERRORS = ("ConfigSubstitutionException", "InterpolationResolutionError", "InterpolationKeyError")


@contextlib.contextmanager
def _environment(env):
    """os.environ is env while the block runs (a config's ${VAR} is looked up there)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _read_config(loader, path, raw, as_server):
    """Parse one config: from its bytes ``raw`` (decoded strictly) as the server does, else from the file."""
    if not as_server:
        return loader.load_config(file_path=path).to_dict()
    return loader.load_config_from_str(raw.decode("utf-8")).to_dict()


def _load_config(fmt, path, src, as_server=True, who="the server", warn=None):
    """Read one of the job's config files with NVFLARE's own loader. ``as_server``: from its text, as the server's
    job check reads what it finds in the uploaded zip (an include cannot reach another file there); else from the
    file, as a client reads its app's config from its workspace.

    A ${VAR} that only the environment can resolve is resolved by WHO (the server, or each client) from its own
    environment, not from the control node's: such a file is read with an empty environment first, and when only
    that fails the file is accepted with a warning (through ``warn``) that names the variable. Returns {} for such
    a file when this control node cannot resolve it either."""
    loader = ConfigFactory.get_config_loader(fmt)
    name = os.path.basename(path)
    if loader is None:
        raise InvalidJob(
            "job folder %s: %s needs the Python package for the %s format: %s" % (src, name, fmt.value, _NEEDS_PACKAGE)
        )
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise InvalidJob("job folder %s: cannot read %s: %s" % (src, name, e))
    includes = _INCLUDE_RE.search(raw.decode("utf-8", "replace")) is not None
    if includes and as_server:
        # the staged copy gets this file with its includes merged in (merge_includes), as nvflare job submit
        # uploads it; that copy is what the server reads
        as_server = False
    try:
        if includes:
            return _read_config(loader, path, raw, as_server)
        unresolved = None
        try:
            with _environment({}):
                return _read_config(loader, path, raw, as_server)
        except Exception as e:  # pylint: disable=broad-exception-caught
            if type(e).__name__ not in _SUBSTITUTION_ERRORS:
                raise
            unresolved = e
        try:
            data = _read_config(loader, path, raw, as_server)
            here = "this control node sets it, make sure %s does too" % who
        except Exception as e:  # pylint: disable=broad-exception-caught
            if type(e).__name__ not in _SUBSTITUTION_ERRORS:
                raise
            data, here = {}, "this control node does not set it either"
        if warn:
            warn("job folder %s: %s takes a value from the environment (%s); %s resolves it from its own "
                 "environment when it reads the file, not from this control node's (%s; nvflare_service_environment "
                 "sets a service's environment). Where it is missing, the job fails" % (src, name, unresolved, who, here))
        return data
    except ImportError as e:
        # NVFLARE registers its .yml loader (OmegaConf) even when omegaconf is not installed
        if who == "each client" and warn:
            # the server never reads a client's config: only the sites need the package
            warn("job folder %s: %s is not checked here: NVFLARE reads it with a Python package that is not "
                 "installed next to nvflare on this control node (%s); each client needs it (nvflare_venv_extras: "
                 "[config] installs nvflare[config], which brings omegaconf)" % (src, name, e))
            return {}
        raise InvalidJob("job folder %s: NVFLARE reads %s with a Python package that is not installed next to nvflare "
                         "(%s): %s" % (src, name, e, _NEEDS_PACKAGE))
    except Exception as e:
        hint = " (with what it includes)" if includes else ""
        raise InvalidJob("job folder %s: cannot read %s%s: %s" % (src, name, hint, e))


_INCLUDE_RE = re.compile(r"^\s*include\b", re.M)


def merge_includes(staged):
    """Write the meta file and each app's config_fed_server and config_fed_client that include other files back with
    what they include merged in, as JSON (which HOCON reads), as ``nvflare job submit`` saves every config before it
    uploads a job (tool/job/job_cli.py prepare_job_config): on the server an include cannot reach another file of
    the job, and a client receives its app folder alone (an include outside it would be skipped without a word).
    Values the file takes from the environment are then resolved here, as the CLI resolves them. Returns the
    relative paths rewritten."""
    candidates = [os.path.join(staged, "meta.conf")] + [
        os.path.join(app, "config", base + ".conf") for app in _subfolders(staged)
        for base in ("config_fed_server", "config_fed_client")]
    done = []
    for path in candidates:
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            if not _INCLUDE_RE.search(f.read().decode("utf-8", "replace")):
                continue
        data = ConfigFactory.get_config_loader(ConfigFormat.PYHOCON).load_config(file_path=path).to_dict()
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        done.append(os.path.relpath(path, staged))
    return done


def _check_app_configs(src, app, config_dir, sites, warn=None):
    """Every config of an app that a site would read must exist and parse: config_fed_server where the server runs it
    (read as the server's job check reads it), config_fed_client where a client does (read from the file, as the
    client does)."""
    all_sites = any(str(s).casefold() == "@all" for s in sites)
    wanted = []
    if all_sites or "server" in sites:
        wanted.append(("config_fed_server", "the server", True))
    if all_sites or any(s != "server" for s in sites):
        wanted.append(("config_fed_client", "a client", False))
    for base, who, as_server in wanted:
        fmt, path = _find_config(config_dir, base)
        if path is None:
            raise InvalidJob(
                "job folder %s: app %r is deployed to %s but has no config/%s file (.json, .conf or .yml)"
                % (src, app, who, base)
            )
        _load_config(fmt, path, src, as_server=as_server, who="the server" if as_server else "each client", warn=warn)


def _check_min_clients(src, meta_name, value):
    """min_clients must be a whole number. NVFLARE's job check reads it with int(), so "2" or 2.5 pass it, but its
    scheduler compares the number of sites with the value itself: a string fails every pass (TypeError in the
    server's log) and 2.5 is never reached, and the job stays SUBMITTED for ever."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
        raise InvalidJob(
            "job folder %s: min_clients in %s is %r (a %s): write a whole number without quotes, such as 2. NVFLARE's "
            "job check accepts it, but its scheduler never starts such a job (it stays SUBMITTED)"
            % (src, meta_name, value, type(value).__name__)
        )


def _nvflare_release():
    try:
        from importlib.metadata import version  # pylint: disable=import-outside-toplevel
        return version("nvflare")
    except Exception:  # pylint: disable=broad-exception-caught
        return "installed here"


def _check_job_id(src, meta_name, value):
    """A job_id in the meta is the id the server stores the job under. NVFLARE 2.8 and later check it (format_check
    check_job_id) and never overwrite a job; before 2.8 the server takes it as it is and writes the job store with
    overwrite on: the id of an existing job replaces that job, and one holding '/' or '..' writes outside the store
    (apis/impl/job_def_manager.py create). A job folder downloaded from the server carries its old id."""
    if value is None:
        return
    try:
        from nvflare.apis.utils import format_check  # pylint: disable=import-outside-toplevel
    except ImportError:  # pragma: no cover - nvflare is required by the module
        format_check = None
    if format_check is not None and hasattr(format_check, "check_job_id"):
        return  # NVFLARE's own job check refuses a bad one (nvflare_refusal)
    raise InvalidJob(
        "job folder %s: %s sets job_id %r. NVFLARE %s (before 2.8) stores the job under that id as it is: a job "
        "that has it is replaced, and an id with '/' or '..' is written outside the server's job store. Remove "
        "job_id (the server gives every job its own; a job folder downloaded from the server carries the old one)"
        % (src, meta_name, value, _nvflare_release())
    )


def _check_deploy_form(src, app, deployments):
    """An app's deployments in a form this NVFLARE line reads. 2.7 added a name or a mapping ({sites: [...]},
    {targets: [...]}) for the list, and [{targets: [...]}] items; 2.6 read [{sites: [...]}] items; before 2.6 only a
    list of site names. The server's own check answers an older line's misreading with 'Missing server site in
    deploy_map' or an AttributeError. A form no line reads is left to that check."""
    names = participants(deployments)
    if not names:
        return
    try:
        from nvflare.private.fed.utils.fed_utils import extract_participants  # pylint: disable=import-outside-toplevel
    except Exception:  # pylint: disable=broad-exception-caught
        extract_participants = None
    if extract_participants is None:
        readable = isinstance(deployments, list) and all(isinstance(d, str) for d in deployments)
    else:
        try:
            # 2.6 reads a name as its characters and a mapping as its keys
            readable = extract_participants(deployments) == names
        except Exception:  # pylint: disable=broad-exception-caught
            readable = False
    if readable:
        return
    need = "2.6" if (isinstance(deployments, list) and all(
        isinstance(d, str) or (isinstance(d, dict) and isinstance(d.get("sites"), list)) for d in deployments)) else "2.7"
    raise InvalidJob(
        "job folder %s: deploy_map gives app %r the sites as %s, a form NVFLARE %s does not read (it needs NVFLARE "
        "%s or later): write a list of site names, %s" % (src, app, json.dumps(deployments), _nvflare_release(), need,
                                                          json.dumps(names))
    )


def check_job_folder(src, warn=None):
    """Check src is a job folder NVFLARE's submit accepts; return its meta as a dict. ``warn(msg)`` gets what may
    still fail on a site (a config value taken from a site's environment).

    The meta file may be written in any format NVFLARE reads (meta.json, meta.conf, meta.yml, ...) and
    is parsed with NVFLARE's own loaders (ConfigFactory). Every app named in its deploy_map must be a
    folder of the job with a config_fed_server or config_fed_client file in any of those formats.
    """
    if os.path.isfile(src) and src.lower().endswith(".zip"):
        raise InvalidJob(
            "src %r is a zip file; NVFLARE submits a job folder: unzip it (unzip %s -d <folder>) and give the job "
            "folder in it (the one that holds meta.json, meta.conf or meta.yml)" % (src, src)
        )
    if not os.path.isdir(src):
        where = "" if os.path.isabs(src) else (
            " (a relative path is read from %s, where the module runs: Ansible runs it in the playbook's directory)"
            % os.getcwd()
        )
        raise InvalidJob(
            "src %r is not a directory%s: give the path of an NVFLARE job folder (it holds meta.json, meta.conf or "
            "meta.yml)" % (src, where)
        )
    names = ", ".join("meta" + ext for ext in ConfigFormat.config_ext_formats())
    fmt, meta_path = _find_config(src, "meta")
    if meta_path is None:
        jobs = [os.path.basename(p) for p in _subfolders(src) if _find_config(p, "meta")[1]]
        if any(_find_config(os.path.join(src, "config"), base)[1] for base in ("config_fed_server", "config_fed_client")):
            raise InvalidJob(
                "src %r is an app folder (config/ at its top, no meta file), the layout before NVFLARE 2.1 jobs, which "
                "NVFLARE's submit refuses: make a job folder that holds it as app/ next to a meta.json with "
                "{\"name\": \"<job>\", \"deploy_map\": {\"app\": [\"@ALL\"]}, \"min_clients\": <n>}" % (src,)
            )
        zips = sorted(n for n in os.listdir(src) if n.lower().endswith(".zip"))
        raise InvalidJob(
            "src %r has no meta.json, meta.conf or meta.yml (NVFLARE reads %s): it is not an NVFLARE job folder. %s"
            % (src, names, ("It holds the job folders %s: give one of them as src" % ", ".join(jobs)) if jobs else
               ("It holds %s: unzip it and give the job folder in it as src" % ", ".join(zips)) if zips else
               "Export one with a recipe's export() or create one with `nvflare job create`")
        )
    meta = _load_config(fmt, meta_path, src, warn=warn)
    if not isinstance(meta, dict):
        raise InvalidJob("job folder %s: %s does not hold a mapping" % (src, os.path.basename(meta_path)))
    _check_min_clients(src, os.path.basename(meta_path), meta.get("min_clients"))
    _check_job_id(src, os.path.basename(meta_path), meta.get("job_id"))
    rule = job_name_rule()
    deploy_map = meta.get("deploy_map")
    if deploy_map is None:
        return meta
    if not isinstance(deploy_map, dict) or not deploy_map:
        raise InvalidJob("job folder %s: deploy_map in %s must map app folders to sites" % (src, os.path.basename(meta_path)))
    for app in deploy_map:
        _check_app_name(src, app, rule)
        _check_deploy_form(src, app, deploy_map[app])
    for app in sorted(deploy_map):
        config_dir = os.path.join(src, app, "config")
        if not os.path.isdir(os.path.join(src, app)):
            result = os.path.isdir(os.path.join(src, "job")) and os.path.isdir(os.path.join(src, "workspace"))
            raise InvalidJob("job folder %s: app %r of deploy_map has no folder %s%s" % (
                src, app, os.path.join(src, app),
                (" (this looks like a job's downloaded result, which holds the job under job/: give %s as src)"
                 % os.path.join(src, "job")) if result else ""))
        if not any(_find_config(config_dir, base)[1] for base in ("config_fed_server", "config_fed_client")):
            raise InvalidJob(
                "job folder %s: app %r has no config/config_fed_server or config/config_fed_client file "
                "(.json, .conf or .yml)" % (src, app)
            )
        _check_app_configs(src, app, config_dir, [str(s) for s in participants(deploy_map[app])], warn=warn)
    sites = deploy_sites(deploy_map)
    if sites is not None and not sites and any(participants(d) for d in deploy_map.values()):
        raise InvalidJob(
            "job folder %s: deploy_map deploys to the server only; a job needs at least one client: deploy an app to "
            "\"@ALL\" or to client site names as well (NVFLARE's own job check fails on such a job, and the server "
            "answers only 'exception <class StopIteration> occurred')" % (src,)
        )
    return meta


def nvflare_refusal(staged):
    """What NVFLARE's own job check (JobMetaValidator: the server's check of every submitted job) says of the staged
    copy, zipped as NVFLARE's admin client zips it; '' when it accepts the job, or when this NVFLARE has no such
    check. Run before connecting, so check mode reports what the server would refuse: a deploy_map without the
    server, two apps for one site, min_clients above the sites deployed to, a mandatory client not deployed to."""
    try:
        # pylint: disable=import-outside-toplevel
        from nvflare.fuel.utils.zip_utils import zip_directory_to_bytes
        from nvflare.private.fed.server.job_meta_validator import JobMetaValidator
    except ImportError:  # pragma: no cover - every supported NVFLARE line has both
        return ""
    parent, name = os.path.split(staged)
    try:
        valid, error, _meta = JobMetaValidator().validate(name, zip_directory_to_bytes(parent, name))
    except ImportError as e:
        # a config format whose package is missing here; the server's venv is built from the same nvflare
        return "NVFLARE's job check needs a Python package that is not installed (%s): %s" % (e, _NEEDS_PACKAGE)
    except Exception as e:  # pylint: disable=broad-exception-caught
        # the check only turns ValueError into a refusal; on the server anything else becomes a bare
        # "exception <class ...> occurred" and the job is refused all the same
        return ("NVFLARE's own job check fails on it with %s: %s (the server would refuse it with only 'exception "
                "%s occurred'): correct the meta or the app configs it names" % (type(e).__name__, e, type(e)))
    return "" if valid else str(error)


@contextlib.contextmanager
def staged_job(src, warn=None):
    """Check src and yield a private copy of it with every (inside) link resolved, named like src (or as
    staged_name() makes a name NVFLARE refuses), once NVFLARE's own job check accepts that copy.

    The copy is what gets hashed for the default submit token and what gets submitted, so the token
    covers the content of linked files too and NVFLARE never sees a link.
    """
    check_job_folder(src, warn=warn)
    check_links(src)
    tmp = tempfile.mkdtemp(prefix="edgefl-stage-")
    try:
        copy = os.path.join(tmp, staged_name(src, job_name_rule()))
        shutil.copytree(os.path.realpath(src), copy, symlinks=False, ignore=shutil.ignore_patterns(_NVFL_ARTIFACTS))
        merge_includes(copy)
        refusal = nvflare_refusal(copy)
        if refusal:
            raise InvalidJob("NVFLARE refuses the job folder %s: %s" % (src, refusal))
        yield copy
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _token(params, staged):
    token = params.get("submit_token") or job_folder_token(staged)
    if not TOKEN_RE.match(token):
        raise InvalidJob(
            "submit_token %r is invalid: use 1-128 characters from letters, digits and . _ : -" % token
        )
    return token


def _public_meta(meta):
    return dict((k, meta[k]) for k in META_KEYS if k in meta)


# aiohttp's default for a websocket message, which NVFLARE's http driver keeps on the client side (2.9): a message
# from the server over it closes the client's connection, and the deploy of a job's app is one message
HTTP_CLIENT_MESSAGE_LIMIT = 4 * 1024 * 1024


def http_deploy_risk(staged, admin_kit):
    """A warning when the federation connects over NVFLARE's http scheme (the default of its provisioning; read from
    the admin kit) and an app the job deploys to clients is near or over the size of one message a client takes
    over it: NVFLARE then drops the client's connection and the job ends FINISHED:FAILED_TO_RUN with "deployment
    timeout". '' otherwise."""
    try:
        with open(os.path.join(admin_kit, "startup", "fed_admin.json"), encoding="utf-8") as f:
            scheme = str((json.load(f).get("admin") or {}).get("scheme") or "")
    except (OSError, ValueError, AttributeError):
        return ""
    if scheme.lower() != "http":
        return ""
    # checked (and warned about) when it was staged: its warnings would only come twice
    deploy_map = check_job_folder(staged, warn=lambda _msg: None).get("deploy_map") or {}
    sizes = dict((app, sum(file_sizes(os.path.join(staged, app)).values())) for app, sites in deploy_map.items()
                 if any(str(n) != "server" for n in participants(sites)))
    big = sorted(app for app, size in sizes.items() if size > HTTP_CLIENT_MESSAGE_LIMIT * 0.9)
    if not big:
        return ""
    return ("the app %s of this job holds %s; over NVFLARE's http scheme (this federation's) a client drops a message "
            "over %d MiB, so the deploy to the clients may time out and the job end FINISHED:FAILED_TO_RUN. Keep large "
            "files out of the job (let the sites load them), or provision with scheme grpc (StaticFileBuilder)"
            % (", ".join(big), ", ".join("%.1f MiB" % (sizes[a] / 1048576.0) for a in big),
               HTTP_CLIENT_MESSAGE_LIMIT // 1048576))


def run_job(params, check_mode=False, warn=None):
    """Check everything before connecting, then submit/wait/download."""
    check_admin_kit(params["admin_kit"])
    if params.get("job_id"):
        return _session(params, None, None, check_mode)
    folder = resolve_job_folder(params["src"])
    with staged_job(folder, warn=warn) as staged:
        risk = http_deploy_risk(staged, params["admin_kit"])
        if risk and warn:
            warn(risk)
        big = oversized_files(staged, server_hash_limit())
        result = _session(params, _token(params, staged), staged, check_mode, token_in_meta=bool(big))
    if big:
        result["oversized_files"] = big
    result["job_folder"] = folder
    return result


def _session(params, token, staged, check_mode, token_in_meta=False):
    result = {"changed": False, "submitted": False, "submit_token": token, "job_id": params.get("job_id"), "status": None}
    client = FlareClient(params["admin_kit"], params.get("username"), params["connect_timeout"])
    # NVFLARE's server refuses to hash a file over its limit for a submit token, and then fails the submission: such
    # a job goes without one, and its token is kept in the job's meta, as before NVFLARE 2.8 (the job stays
    # submitted once only)
    client.token_in_meta = token_in_meta
    with client:
        try:
            _run(client, params, token, staged, result, check_mode)
        except FlareError as e:
            e.details.setdefault("job_id", result["job_id"])
            e.details.setdefault("submit_token", token)
            e.details["submitted"] = result["submitted"]
            e.details["changed"] = result["changed"]
            raise
    return result


def _wait(client, job_id, params, result):
    """Wait for the job. A job that times out stays queued or running on the server unless abort_on_timeout is set:
    then it is aborted, and the timeout error says so and carries its status afterwards."""
    try:
        return client.wait(job_id, params["timeout"], params["poll_interval"])
    except WaitTimeout as e:
        if not params.get("abort_on_timeout"):
            said = ("; the job stays %s on the server (abort_on_timeout=true aborts it on a timeout)"
                    % (e.details.get("status") or "queued"))
        else:
            status = client.abort(job_id).get("status")
            result["changed"] = True
            e.details.update(aborted=True, status=status)
            said = "; aborted it (abort_on_timeout), its status is now %s" % status
        e.msg += said
        e.details["reason"] = e.details.get("reason", "") + said
        raise


def _run(client, params, token, staged, result, check_mode):
    if token:
        existing = client.find_job(token)
        if existing:
            result["job_id"] = existing.get("job_id")
            if params.get("submit_token") and not check_mode:
                # a token the user chose may be reused for edited content: that is an error, not the old job
                # (the default token is derived from the content, so it cannot collide)
                client.confirm_content(existing, staged, token)
        elif check_mode:
            result.update(changed=True, status="NOT_SUBMITTED")
            return
        else:
            result["job_id"] = client.submit(staged, token)
            result.update(changed=True, submitted=True)
    job_id = result["job_id"]
    meta = client.job_meta(job_id)
    if params["wait"] and not check_mode and not is_terminal(meta.get("status")):
        meta = _wait(client, job_id, params, result)
    status = meta.get("status")
    result.update(status=status, job_meta=_public_meta(meta))
    if params.get("progress") and not params["wait"] and not is_terminal(status):
        result["round"] = client.job_round(job_id)
    if meta.get("duration"):
        result["duration"] = meta["duration"]
    if is_terminal(status) and status != SUCCESS_STATUS:
        tail = client.log_tail(job_id, params["log_lines"])
        raise JobFailed(
            "job %s ended %s, not %s. Tail of the server job log:\n%s" % (job_id, status, SUCCESS_STATUS, tail),
            status=status,
            log_tail=tail,
            job_meta=result["job_meta"],
        )
    if params.get("dest") and status == SUCCESS_STATUS:
        path = os.path.join(params["dest"], job_id)
        if not os.path.isdir(path):
            result["changed"] = True
            if not check_mode:
                path = client.download(job_id, params["dest"])
        result["result_path"] = path
