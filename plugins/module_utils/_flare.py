# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This module_utils file is private to the edgefl.nvflare collection. It is not
# part of the public API and may change without notice; do not use it from other collections.

"""FLARE API (nvflare.fuel.flare_api) logic behind the job and status modules.

The modules stay thin: they build a FlareClient from their parameters and turn the
FlareError subclasses raised here into distinct, clear failures.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import re
import shutil
import tempfile
import traceback

from ansible_collections.edgefl.nvflare.plugins.module_utils import _admin_probe
from ansible_collections.edgefl.nvflare.plugins.module_utils._base import ModuleError

NVFLARE_IMPORT_ERROR = None
try:
    from nvflare.fuel.flare_api import api_spec as _spec
    from nvflare.fuel.flare_api.flare_api import new_secure_session
except ImportError:  # pragma: no cover - reported by the modules through missing_required_lib
    NVFLARE_IMPORT_ERROR = traceback.format_exc()
    _spec = None
try:
    from nvflare.apis.utils.job_submit_token import canonical_job_content_hash
except ImportError:  # NVFLARE before 2.8: no submit tokens on the server; see FlareClient.find_job
    canonical_job_content_hash = None

# NVFLARE before 2.8 keeps no submit token: the module writes its token into the submitted job's meta under
# this key and finds the job again in the server's detailed job list (the server keeps every meta key).
TOKEN_META_KEY = "edgefl_submit_token"
HASH_META_KEY = "edgefl_content_hash"  # before 2.8: the content the token was first used for
TOKEN_CONFLICT_MSG = ("submit_token was already used for different job content (existing job %s): use a new "
                      "submit_token or leave it unset to derive one from the job content")


class _Never(Exception):
    """Stands for an exception class the installed FLARE API does not have (an older NVFLARE)."""


def _token_errors():
    """The FLARE API's submit-token exceptions (NVFLARE 2.8+), or a class nothing raises."""
    found = tuple(getattr(_spec, n) for n in ("SubmitTokenConflict", "SubmitTokenJobDeleted") if hasattr(_spec, n))
    return found or _Never


def content_hash(path):
    """A hash of a job folder's files (paths and bytes; NVFLARE's signature files left out), for NVFLARE
    versions without canonical_job_content_hash."""
    import hashlib

    h = hashlib.sha256()
    root = os.path.abspath(path)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.startswith(".__nvfl_"):
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            h.update(rel.encode("utf-8") + b"\0")
            with open(full, "rb") as f:
                h.update(f.read())
            h.update(b"\0")
    return h.hexdigest()


def server_hash_limit():
    """The largest file NVFLARE's server hashes when a job comes with a submit token (2.9: 10 MiB), or None. A job
    with a larger file fails on the server with a bare "exception <class 'ValueError'> occurred" when it is submitted
    with a token, and is accepted without one."""
    try:
        from nvflare.apis.utils import job_submit_token  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return getattr(job_submit_token, "_MAX_HASH_ZIP_MEMBER_SIZE", None)


def file_sizes(path):
    """{relative path: bytes} of the regular files under path (links are not followed: a staged job has none)."""
    root = os.path.abspath(path)
    sizes = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                sizes[os.path.relpath(full, root)] = os.path.getsize(full)
    return sizes


def oversized_files(path, limit):
    """The files under path (relative, sorted) larger than limit bytes; [] when limit is None."""
    if not limit:
        return []
    return sorted(rel for rel, size in file_sizes(path).items() if size > limit)


SUCCESS_STATUS = "FINISHED:COMPLETED"

# Options of every module that opens an admin session; documented by the
# edgefl.nvflare.flare_session doc fragment.
SESSION_ARGUMENT_SPEC = dict(
    admin_kit=dict(type="path", required=True),
    username=dict(type="str"),
    connect_timeout=dict(type="float", default=10.0),
)
TOKEN_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_LEGACY_TERMINAL = ("FINISHED_OK", "FINISHED_EXCEPTION", "ABORTED", "ABANDONED", "FAILED")


class FlareError(ModuleError):
    """Base of the failures the modules report; ``kind`` is returned as ``error``."""

    kind = "error"

    def __init__(self, msg, **details):
        super().__init__(msg, **details)
        self.details["error"] = self.kind
        self.details.setdefault("changed", False)


class ServerUnreachable(FlareError):
    kind = "unreachable"


class AuthRefused(FlareError):
    kind = "auth"


class WaitTimeout(FlareError):
    kind = "timeout"


class JobFailed(FlareError):
    kind = "job_failed"


class InvalidJob(FlareError):
    kind = "invalid_job"


class TokenConflict(FlareError):
    kind = "token_conflict"


class KitError(FlareError):
    kind = "admin_kit"


class Unsupported(FlareError):
    kind = "unsupported"


class ServerError(FlareError):
    kind = "server_error"


def is_terminal(status):
    return isinstance(status, str) and (status.startswith("FINISHED") or status in _LEGACY_TERMINAL)


def check_admin_kit(admin_kit):
    """Fail before connecting when the admin kit is not a provisioned admin kit."""
    fed_admin = os.path.join(admin_kit, "startup", "fed_admin.json")
    if not os.path.isfile(fed_admin):
        raise KitError(
            "admin_kit %r is not an NVFLARE admin startup kit (no startup/fed_admin.json): point admin_kit at "
            "the admin participant's kit, e.g. <nvflare_workspace>/admin/admin@nvidia.com (installed by the "
            "nvflare_admin role)" % admin_kit
        )


def job_folder_token(path):
    """Default submit token: the job folder name plus a hash of its content.

    The same folder content always maps to the same token (re-running never submits twice);
    an edited job gets a new token and therefore a new job.
    """
    name = re.sub(r"[^A-Za-z0-9._-]", "-", os.path.basename(os.path.normpath(path)))[:40] or "job"
    digest = canonical_job_content_hash(path) if canonical_job_content_hash is not None else content_hash(path)
    return "edgefl-%s-%s" % (name, digest[:40])


def _quiet():
    """Swallow the FLARE API's prints: a module's stdout must carry only its JSON result."""
    out = io.StringIO()
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(out))
    stack.enter_context(contextlib.redirect_stderr(out))
    return stack


class JobProgress:
    """``monitor_job`` callback: records the last job meta and the statuses seen, ends on a terminal status."""

    def __init__(self):
        self.meta = None
        self.polls = 0
        self.statuses = []

    @property
    def status(self):
        return (self.meta or {}).get("status")

    def __call__(self, session, job_id, job_meta):
        self.meta = job_meta or {}
        self.polls += 1
        if not self.statuses or self.statuses[-1] != self.status:
            self.statuses.append(self.status)
        return not is_terminal(self.status)


def participants(deployments):
    """The site names of one app's deployments in a deploy_map, read as NVFLARE 2.6+ reads them
    (nvflare.private.fed.utils.fed_utils.extract_participants): a name, a list of names, {targets: [...]} or
    {sites: [...]}, or a list mixing names and such mappings. A form NVFLARE refuses gives no names here (the server
    refuses the job itself)."""
    if isinstance(deployments, dict):
        deployments = deployments.get("targets", deployments.get("sites"))
    elif isinstance(deployments, str):
        deployments = [deployments]
    if not isinstance(deployments, list):
        return []
    names = []
    for item in deployments:
        if isinstance(item, dict):
            item = item.get("sites") if item.get("sites") is not None else item.get("targets")
            if not isinstance(item, list):
                return []
            names.extend(item)
        elif isinstance(item, str):
            names.append(item)
        else:
            return []
    return names


def deploy_sites(deploy_map):
    """The client sites a deploy_map names (participants() of each app), in order, without repeats; None when it
    deploys to @ALL (every connected client)."""
    sites = []
    for deployments in (deploy_map or {}).values() if isinstance(deploy_map, dict) else []:
        for name in participants(deployments):
            name = str(name)
            if name.upper() == "@ALL":
                return None
            if name != "server" and name not in sites:
                sites.append(name)
    return sites


def waiting_reason(meta, connected):
    """Why the server has not started a SUBMITTED job, from its meta and the connected client names; '' when the
    connected clients should be enough."""
    mandatory = [str(m) for m in meta.get("mandatory_clients") or []]
    absent_mandatory = [m for m in mandatory if m not in connected]
    sites = deploy_sites(meta.get("deploy_map"))
    needed = meta.get("min_clients")
    try:
        needed = int(needed) if needed is not None else None
    except (TypeError, ValueError):
        needed = None
    shown = ", ".join(connected) or "none"
    if sites is None:
        if needed is not None and len(connected) < needed:
            return ("the server has not started it: the job needs min_clients=%s and %d client(s) are connected (%s). "
                    "Start or reconnect more clients (status.yml lists them), or lower min_clients in the job's meta"
                    % (needed, len(connected), shown))
    else:
        usable = [s for s in sites if s in connected]
        absent = [s for s in sites if s not in connected]
        if (needed is not None and len(usable) < needed) or (needed is None and absent):
            return ("the server has not started it: its deploy_map names the clients %s, of which %s connected "
                    "(connected: %s), and it needs %s of them. Start or reconnect %s, or fix the deploy_map or "
                    "min_clients in the job's meta (a name that is no client of this federation never connects)"
                    % (", ".join(sites), ("%d is" % len(usable)) if len(usable) == 1 else ("%d are" % len(usable)),
                       shown, "min_clients=%d" % needed if needed is not None else "all",
                       ", ".join(absent)))
    if absent_mandatory:
        return ("the server has not started it: its mandatory_clients %s are not connected (connected: %s). Start or "
                "reconnect them, or fix mandatory_clients in the job's meta" % (", ".join(absent_mandatory), shown))
    if meta.get("resource_spec"):
        return ("the server has not started it although enough clients are connected (%s): its resource_spec asks "
                "the sites for resources (GPUs, memory) that too few of them report free; the server's log says "
                "'not enough sites have enough resources'. Fix resource_spec in the job's meta, or the sites' "
                "local/resources.json" % shown)
    return ""


class FlareClient:
    """One admin session against the server named in the admin kit."""

    def __init__(self, admin_kit, username=None, connect_timeout=10.0):
        self.admin_kit = os.path.abspath(admin_kit)
        self.token_in_meta = False
        self.username = username or os.path.basename(os.path.normpath(self.admin_kit))
        self.connect_timeout = connect_timeout
        self.session = None

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def connect(self):
        check_admin_kit(self.admin_kit)
        try:
            with _quiet():
                self.session = new_secure_session(self.username, self.admin_kit, timeout=self.connect_timeout)
        except _spec.AuthenticationError as e:
            raise AuthRefused(
                "the server refused the admin credentials of %r as user %r: %s. Check that username matches the "
                "admin kit (its directory name is the admin email) and that the kit was provisioned with the "
                "server's current root CA" % (self.admin_kit, self.username, e)
            )
        except _spec.AuthorizationError as e:
            raise AuthRefused("user %r is not authorized to log in: %s" % (self.username, e))
        except (_spec.NoConnection, ConnectionError, OSError) as e:
            raise ServerUnreachable(
                "cannot reach the NVFLARE server named in %s within %ss: %s. %s"
                % (os.path.join(self.admin_kit, "startup", "fed_admin.json"), self.connect_timeout, e,
                   self._why_unreachable("Is the server service running, is its admin port open and does its name "
                                         "resolve from the control node?"))
            )
        except Exception as e:  # the FLARE API raises plain exceptions for timeouts and TLS failures
            text = str(e)
            low = text.lower()
            if any(w in low for w in ("client_registration", "challenge", "authenticat", "certificate", "ssl")):
                raise AuthRefused(
                    "the server refused the admin login of %r with kit %r (%s). Check that username matches the "
                    "admin kit (its directory name is the admin email) and that the kit was provisioned with the "
                    "server's current root CA" % (self.username, self.admin_kit, text)
                )
            raise ServerUnreachable(
                ("cannot open an admin session to the NVFLARE server within %ss using %s: %s. %s"
                 % (self.connect_timeout, self.admin_kit, text or type(e).__name__, self._why_unreachable(""))).strip()
            )

    def _why_unreachable(self, fallback):
        """What one TCP connect and TLS handshake with the kit's certificates find (_admin_probe), else fallback."""
        found = _admin_probe.diagnose(self.admin_kit, min(float(self.connect_timeout or 5), 5.0))
        return found[0].upper() + found[1:] + "." if found else fallback

    def close(self):
        if self.session is not None:
            with _quiet():
                try:
                    self.session.close()
                except Exception:
                    pass
            self.session = None

    def _call(self, func, *args, **kwargs):
        try:
            with _quiet():
                return func(*args, **kwargs)
        except _spec.NoConnection as e:
            raise ServerUnreachable("lost the connection to the NVFLARE server: %s" % e)
        except (_spec.AuthenticationError, _spec.AuthorizationError) as e:
            raise AuthRefused("the server refused the request: %s" % e)
        except _token_errors() as e:  # NVFLARE 2.8+: SubmitTokenConflict, SubmitTokenJobDeleted
            if hasattr(e, "existing_job_id"):
                raise TokenConflict(TOKEN_CONFLICT_MSG % e.existing_job_id, job_id=e.existing_job_id)
            raise TokenConflict(
                "submit_token refers to job %s which was deleted: use a new submit_token" % getattr(e, "job_id", None),
                job_id=getattr(e, "job_id", None),
            )
        except _spec.InvalidJobDefinition as e:
            raise InvalidJob("NVFLARE refused the job folder: %s" % e)
        except _spec.JobNotFound as e:
            raise InvalidJob("no such job on the server: %s" % e)
        except getattr(_spec, "InternalError", ()) as e:
            raise ServerError(
                "the NVFLARE server failed on the request: %s (it sends no more detail; see its log, <server "
                "workspace>/log.txt on the server host)" % e
            )

    # --- status -----------------------------------------------------------------
    def system_status(self):
        if not hasattr(self.session, "check_status"):  # NVFLARE before 2.8
            return self._system_info()
        meta = self._call(self.session.check_status, "server")
        clients = []
        for c in meta.get("clients") or []:
            clients.append({"name": c.get("client_name"), "last_connect_time": c.get("client_last_conn_time")})
        clients.sort(key=lambda c: c["name"] or "")
        running = []
        for j in meta.get("jobs") or []:
            running.append({"job_id": j.get("job_id"), "app_name": j.get("app_name")})
        return {
            "server": {"status": meta.get("server_status"), "start_time": meta.get("server_start_time")},
            "clients": clients,
            "running_jobs": running,
        }

    def _system_info(self):
        info = self._call(self.session.get_system_info)
        clients = sorted(({"name": c.name, "last_connect_time": c.last_connect_time} for c in info.client_info or []),
                         key=lambda c: c["name"] or "")
        return {
            "server": {"status": info.server_info.status, "start_time": info.server_info.start_time},
            "clients": clients,
            "running_jobs": [{"job_id": j.job_id, "app_name": j.app_name} for j in info.job_info or []],
        }

    def _needs(self, method, what):
        if not hasattr(self.session, method):
            raise Unsupported(
                "%s needs NVFLARE 2.8 or later on the control node and the server (the FLARE API here has no %s)"
                % (what, method)
            )
        return getattr(self.session, method)

    def disable_client(self, name):
        """NVFLARE's disable_client: drop the client's session, refuse its registration and heartbeats from now
        on (the server keeps the list in <its workspace>/disabled_clients.json). Returns the per-client rows."""
        func = self._needs("disable_client", "Locking a removed client out (disable_client)")
        return ((self._call(func, name) or {}).get("clients")) or []

    def enable_client(self, name):
        """NVFLARE's enable_client: let a disabled client register again. Returns the per-client rows."""
        func = self._needs("enable_client", "Enabling a re-added client (enable_client)")
        return ((self._call(func, name) or {}).get("clients")) or []

    def client_versions(self):
        try:
            with _quiet():
                return self.session.report_version("all")
        except Exception:
            return None

    def list_jobs(self, limit=None):
        return self._call(self.session.list_jobs, limit=limit, reverse=True)

    # --- jobs -------------------------------------------------------------------
    def _has_tokens(self):
        """True when the server keeps the submit token (NVFLARE 2.8+) and may for this job: ``token_in_meta`` (a job
        with a file the server will not hash, see oversized_files) keeps it in the job's meta, as before 2.8."""
        return not self.token_in_meta and _accepts(self.session.submit_job, "submit_token")

    def find_job(self, token):
        if not self._has_tokens():  # NVFLARE before 2.8: the token is in the job's meta
            jobs = [j for j in self._call(self.session.list_jobs, detailed=True, reverse=True) or []
                    if isinstance(j, dict) and j.get(TOKEN_META_KEY) == token]
            return jobs[0] if jobs else None
        jobs = self._call(self.session.list_jobs, submit_token=token)
        return jobs[0] if jobs else None

    def submit(self, path, token):
        # The FLARE API signs the folder in place (.__nvfl_sig.json, .__nvfl_submitter.crt in every
        # directory): submit a copy so the user's job folder stays untouched.
        path = os.path.abspath(path)
        tmp = tempfile.mkdtemp(prefix="edgefl-job-")
        try:
            copy = os.path.join(tmp, os.path.basename(os.path.normpath(path)))
            shutil.copytree(path, copy, ignore=shutil.ignore_patterns(".__nvfl_*"))
            if not self._has_tokens():
                _write_token_meta(copy, token, content_hash(copy))
                return self._call(self.session.submit_job, copy)
            return self._call(self.session.submit_job, copy, submit_token=token)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def confirm_content(self, existing, path, token):
        """An explicit submit_token names one job content. The same content is the job found; other content
        is a TokenConflict, not the old job. NVFLARE 2.8+ decides on the server (submitting again with the
        token returns that job or raises SubmitTokenConflict); before 2.8 the hash kept in the job's meta does."""
        job_id = existing.get("job_id")
        if self._has_tokens():
            again = self.submit(path, token)
            if again and job_id and again != job_id:  # pragma: no cover - the server dedups by token
                raise TokenConflict(TOKEN_CONFLICT_MSG % job_id, job_id=job_id)
            return
        stored = existing.get(HASH_META_KEY)
        if stored is not None and stored != content_hash(path):
            raise TokenConflict(TOKEN_CONFLICT_MSG % job_id, job_id=job_id)

    def job_meta(self, job_id):
        return self._call(self.session.get_job_meta, job_id)

    def wait(self, job_id, timeout, poll_interval):
        """Wait with the FLARE API's own ``Session.monitor_job``; return the final job meta.

        ``monitor_job`` returns only a code, so the callback keeps each poll's meta and ends the
        monitor on a terminal status. On ``MonitorReturnCode.TIMEOUT`` the status is read once
        more: ``monitor_job`` checks the clock after its sleep and before polling, so a job that
        finished during the last interval still counts as finished, as it did before.
        """
        progress = JobProgress()
        rc = self._call(self.session.monitor_job, job_id, timeout, poll_interval, progress)
        if rc == _spec.MonitorReturnCode.TIMEOUT:
            progress(self.session, job_id, self.job_meta(job_id))
        if progress.meta is None or not is_terminal(progress.status):
            reason = self._why_waiting(progress.meta)
            raise WaitTimeout(
                "job %s did not finish within %ss (last status %s): %s" % (job_id, timeout, progress.status, reason),
                job_id=job_id,
                status=progress.status,
                waited_status=progress.status,
                reason=reason,
            )
        return progress.meta

    def abort(self, job_id):
        """Abort a job (NVFLARE cancels one not yet running, stops one running, leaves a finished one) and return
        its meta afterwards."""
        self._call(self.session.abort_job, job_id)
        return self.job_meta(job_id)

    def _why_waiting(self, meta):
        """What to do about a job that did not finish in time. A job the server never dispatched waits for its
        min_clients among the sites its deploy_map names, and for its mandatory clients: say which are connected."""
        generic = "raise timeout, or check that enough clients are connected for the job's min_clients"
        if not meta or meta.get("status") != "SUBMITTED":
            return generic
        try:
            connected = sorted(c["name"] for c in self.system_status()["clients"])
        except FlareError:
            return generic
        return waiting_reason(meta, connected) or generic

    def job_round(self, job_id, lines=400):
        """The last training round the server's job log says started (NVFLARE's FedAvg and ScatterAndGather log
        "Round <n> started."), or None (no such line yet, another workflow, or no log access)."""
        if not hasattr(self.session, "get_job_logs"):
            return None
        try:
            with _quiet():
                logs = self.session.get_job_logs(job_id, target="server", tail_lines=lines)
        except Exception:
            return None
        return last_round((logs or {}).get("logs", {}).get("server") or "")

    def log_tail(self, job_id, lines):
        try:
            with _quiet():
                logs = self.session.get_job_logs(job_id, target="server", tail_lines=lines)
        except Exception as e:
            return "(job log unavailable: %s)" % e
        text = (logs or {}).get("logs", {}).get("server") or ""
        return "\n".join(text.splitlines()[-lines:])

    def download(self, job_id, dest):
        """Download the job result into dest/<job_id>; return the path."""
        os.makedirs(dest, exist_ok=True)
        if _accepts(self.session.download_job_result, "destination"):
            return self._call(self.session.download_job_result, job_id, dest)
        # before NVFLARE 2.8 the result lands in the admin kit's download_dir; move it as 2.8 does
        location = self._call(self.session.download_job_result, job_id)
        if not location or not os.path.exists(location):
            return location
        final = os.path.join(os.path.abspath(dest), os.path.basename(location))
        if os.path.exists(final):  # never overwrite a result that is there (the caller checked dest/<job_id>)
            return location
        shutil.move(location, final)
        return final


ROUND_RE = re.compile(r"\bRound (\d+) started\b")


def last_round(log_text):
    """The number of the last "Round <n> started" line of a server job log, or None."""
    found = ROUND_RE.findall(log_text or "")
    return int(found[-1]) if found else None


def _accepts(func, name):
    """True when func takes an argument called name (the FLARE API grew some between versions)."""
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _write_token_meta(folder, token, digest=None):
    """Add TOKEN_META_KEY (and HASH_META_KEY) to the job copy's meta: the meta file NVFLARE reads (the first of its
    config extensions, .default ones included) becomes the equivalent meta.json."""
    import json

    from nvflare.fuel.utils.config import ConfigFormat
    from nvflare.fuel.utils.config_factory import ConfigFactory

    for ext, fmt in ConfigFormat.config_ext_formats().items():
        path = os.path.join(folder, "meta" + ext)
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            meta = ConfigFactory.get_config_loader(fmt).load_config_from_str(f.read().decode("utf-8")).to_dict()
        os.unlink(path)
        meta[TOKEN_META_KEY] = token
        if digest:
            meta[HASH_META_KEY] = digest
        with open(os.path.join(folder, "meta.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)
        return
    raise InvalidJob("job folder %s has no meta.json, meta.conf or meta.yml" % folder)
