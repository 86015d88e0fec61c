# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This module_utils file is private to the edgefl.nvflare collection. It is not
# part of the public API and may change without notice; do not use it from other collections.

"""What the edgefl.nvflare.job module does, independent of AnsibleModule."""

from __future__ import annotations

import os

from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import (
    SUCCESS_STATUS,
    TOKEN_RE,
    FlareClient,
    FlareError,
    InvalidJob,
    JobFailed,
    check_admin_kit,
    check_job_folder,
    is_terminal,
    job_folder_token,
)

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


def validate(params):
    """Check the arguments before connecting; returns the submit token (None for job_id mode)."""
    check_admin_kit(params["admin_kit"])
    if params.get("job_id"):
        return None
    check_job_folder(params["src"])
    token = params.get("submit_token") or job_folder_token(params["src"])
    if not TOKEN_RE.match(token):
        raise InvalidJob(
            "submit_token %r is invalid: use 1-128 characters from letters, digits and . _ : -" % token
        )
    return token


def _public_meta(meta):
    return dict((k, meta[k]) for k in META_KEYS if k in meta)


def run_job(params, check_mode=False):
    token = validate(params)
    result = {"changed": False, "submitted": False, "submit_token": token, "job_id": params.get("job_id"), "status": None}
    client = FlareClient(params["admin_kit"], params.get("username"), params["connect_timeout"])
    with client:
        try:
            _run(client, params, token, result, check_mode)
        except FlareError as e:
            e.details.setdefault("job_id", result["job_id"])
            e.details.setdefault("submit_token", token)
            e.details["submitted"] = result["submitted"]
            e.details["changed"] = result["changed"]
            raise
    return result


def _run(client, params, token, result, check_mode):
    if token:
        existing = client.find_job(token)
        if existing:
            result["job_id"] = existing.get("job_id")
        elif check_mode:
            result.update(changed=True, status="NOT_SUBMITTED")
            return
        else:
            result["job_id"] = client.submit(params["src"], token)
            result.update(changed=True, submitted=True)
    job_id = result["job_id"]
    meta = client.job_meta(job_id)
    if params["wait"] and not check_mode and not is_terminal(meta.get("status")):
        meta = client.wait(job_id, params["timeout"], params["poll_interval"])
    status = meta.get("status")
    result.update(status=status, job_meta=_public_meta(meta))
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
