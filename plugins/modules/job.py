#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: job
short_description: Submit an NVIDIA FLARE job, wait for it and download its result
version_added: 1.0.0
description:
  - Submits a job folder to a running NVIDIA FLARE federation through the FLARE API with an admin startup kit.
  - Idempotent through the FLARE submit token. The same O(submit_token) (by default derived from the job
    folder's content) always resolves to the same job, so re-running the task never submits twice.
  - Optionally waits until the job reaches a final state and downloads its result into a directory on the
    machine that runs the module (normally the control node, with C(delegate_to) set to C(localhost)).
  - Run through its action plugin (the normal case), a waiting task prints the job status and the time waited
    (C([<host>] job <id>), then its status and C(<waited>s/<timeout>s), and the training round the server's job
    log last started) on the default callback on every status change and at least every 20 seconds; it then
    polls at most
    every 5 seconds, each poll being one module run with O(wait=false).
  - Fails with a distinct RV(error) kind and a clear message when the server is unreachable, the server
    refuses the admin credentials, waiting times out, or the job ends in any state other than
    C(FINISHED:COMPLETED) (then the message carries the final status and the tail of the server's job log).
author:
  - edgefl maintainers (@edgefl)
requirements:
  - nvflare (the same version as the federation) in the Python interpreter that runs the module.
extends_documentation_fragment:
  - edgefl.nvflare.attributes
  - edgefl.nvflare.flare_session
attributes:
  check_mode:
    support: full
    details:
      - Submits nothing and downloads nothing; reports the job a submit token already resolves to, if any.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - With an unchanged job folder (or the same O(submit_token)) a second run finds the existing job.
options:
  src:
    description:
      - NVFLARE job folder to submit, for example the shipped example C(playbooks/files/jobs/numpy_fedavg).
      - Any folder NVFLARE's own submit accepts. Its meta file may be C(meta.json), C(meta.conf) (what
        C(nvflare job create) writes) or C(meta.yml), and its app configs may use any of those formats; they are
        read with NVFLARE's own loaders before connecting, and a folder that is not a job fails with
        RV(error=invalid_job). The meta and each C(config_fed_server) are read from their text, as the server's
        job check reads them from the uploaded job. One that C(include)s another file (the meta, a
        C(config_fed_server) or a C(config_fed_client)) is submitted with what it includes merged in (as JSON), as
        C(nvflare job submit) does; on the server an include cannot reach another file of the job, and a client
        receives its app folder alone.
        Each C(config_fed_client) is read from its file, as a client reads it. A value a file takes from the
        environment (C(${VAR}) in C(.conf), C(${oc.env:VAR}) in C(.yml)) is resolved by the server or each client
        from its own environment, not from the control node's, so such a file is accepted with a warning that names
        the variable. C(min_clients) must be a whole number (C("2") or C(2.5) pass NVFLARE's job check, but its
        scheduler never starts such a job). C(.yml) files need the C(omegaconf)
        package next to nvflare, on the sites that read them
        (O(edgefl.nvflare.nvflare_venv#role:main:nvflare_venv_extras=[config])) and, for the meta and
        C(config_fed_server), on the control node; a C(config_fed_client.yml) it cannot read here is not checked
        (a warning says so). One app for all sites (C(app)) or
        one per site (C(app_server), C(app_site-1)..., as NVFLARE's job API C(FedJob.export_job) writes them), and
        every C(deploy_map) form NVFLARE reads (lists of names, C(@ALL), C(sites) or C(targets) mappings), are
        accepted. A form the installed NVFLARE line does not read yet (a name or a mapping instead of the list
        needs 2.7, C(sites) mappings in the list 2.6) fails with RV(error=invalid_job) and the list to write.
      - A C(job_id) in the meta (a job folder downloaded from the server carries one) is refused before NVFLARE
        2.8, whose server stores the job under that id as it is and so would replace the job that has it. 2.8
        and later check it and never replace a job. A C(.zip) given as O(src), or a folder holding only one, is
        refused with the advice to unzip it.
      - NVFLARE's own job check (its C(JobMetaValidator), which the server runs on every submitted job) then runs
        on the copy that would be submitted, before connecting and in check mode too; what it refuses (for example
        a C(deploy_map) without the server, or C(min_clients) above the sites deployed to) fails with
        RV(error=invalid_job) and NVFLARE's message. So does a job that check fails on with another exception (a
        C(mandatory_clients) that is not a list, for example), which the server would refuse with only
        C(exception <class ...> occurred), and a C(deploy_map) that names no client.
      - When the admin kit connects over NVFLARE's C(http) scheme (the default of NVFLARE's provisioning) and an
        app the job deploys to clients holds more than about 3.6 MiB, the module warns. Over C(http) an NVFLARE 2.9
        client drops a message over 4 MiB (aiohttp's default), so the deploy of that app times out and the job
        ends C(FINISHED:FAILED_TO_RUN); the same job completes over C(grpc).
      - As C(nvflare job submit -j) does, a folder that is not a job itself but holds exactly one job folder (hidden
        folders aside; the layout of a recipe's export) submits that one (RV(job_folder)).
      - The app names of its C(deploy_map) must follow the job-name rule of the installed NVFLARE (2.9 letters,
        digits, C(.), C(_) and C(-), starting with a letter or digit); a name it would refuse fails with
        RV(error=invalid_job) before connecting. A folder name outside that rule is submitted as a copy named with
        every other character made C(-) (C(my job) as C(my-job)), as C(nvflare job submit) submits a copy under a
        temporary name. NVFLARE before 2.8 has no such rule, but its FLARE API sends the folder in a command line
        split at spaces, so there spaces and quotes in the name become C(-).
      - Symbolic links that point outside the folder, dangle or loop are refused with RV(error=invalid_job)
        naming the link (whatever a link points at would be sent to every site). Links inside the folder are
        followed; the job is submitted as a copy with each link replaced by its target, and the default
        O(submit_token) hashes that copy.
      - Exactly one of O(src) and O(job_id) is required.
    type: path
  job_id:
    description:
      - Work on an existing job instead of submitting one (wait for it and/or download its result).
    type: str
  submit_token:
    description:
      - FLARE submit token (C([A-Za-z0-9._:-]), at most 128 characters). The server maps a token to one job.
      - Defaults to C(edgefl-<folder name>-<hash of the folder content>), so an unchanged folder is never
        submitted twice while an edited one becomes a new job. Set it explicitly to run the same job folder
        again as a new job (for example C(run-2)).
      - An explicit token names one job content. Run again with the same content, the module returns that job
        (no change); with edited content it fails with RV(error=token_conflict) naming the existing job, on
        every NVFLARE line (2.8 and newer decide on the server; before 2.8 a hash kept in the job's meta).
      - A job with a file larger than the server hashes for a token (NVFLARE 2.9 10 MiB; the server would fail the
        submission with only C(exception <class 'ValueError'> occurred)) is submitted without a server-side token;
        the token goes into the job's meta, as before NVFLARE 2.8, and is found there on the next run
        (RV(oversized_files)).
    type: str
  wait:
    description: Wait until the job reaches a final state.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for the job to finish before failing with RV(error=timeout).
      - The wait is the FLARE API's C(Session.monitor_job), which checks the clock before each poll, so it can
        last up to one O(poll_interval) longer. A job found finished at that point counts as finished.
    type: int
    default: 900
  abort_on_timeout:
    description:
      - When the wait times out, abort the job (NVFLARE cancels a job that has not started and stops a running one),
        and fail with RV(error=timeout), RV(aborted=true) and the job's status afterwards.
      - By default a job that times out stays on the server, queued or running, and the message says so; a queued
        job then starts whenever enough of its clients connect.
    type: bool
    default: false
    version_added: 1.5.0
  poll_interval:
    description: Seconds between job status polls while waiting.
    type: float
    default: 2
  dest:
    description:
      - Directory to download the finished job's result into; the result lands in C(<dest>/<job_id>).
      - Skipped when that directory already exists (idempotent). Requires the job to have finished, so use it
        with O(wait=true) or on a finished O(job_id).
    type: path
  log_lines:
    description: Lines of the server's job log to include when the job did not complete.
    type: int
    default: 40
  progress:
    description:
      - With O(wait=false) on a job that has not ended, also return RV(round), read from the tail of the server's
        job log. The action plugin sets it on its polls to print the round in its progress lines.
    type: bool
    default: false
    version_added: 1.1.0
  run_lock:
    description:
      - The federation's run lock file on the control node (C(edgefl.nvflare.run_lock), the playbooks give it from the
        inventory). When set, the submission waits until no other ansible-playbook run changes the federation, and
        holds the lock only while it submits (or finds the job of its O(submit_token)); the wait for the job and the
        download do not hold it.
      - So a deploy never restarts the services between its check for running jobs and its restart because a job
        arrived in between, and two runs that submit the same folder at once submit it once, on every NVFLARE line.
      - Taken by the action plugin on the control node; not in check mode. A run that holds the lock already (a task
        of C(playbooks/run_lock.yml) before) submits at once.
    type: path
    version_added: 1.5.0
  run_lock_timeout:
    description:
      - Seconds to wait for O(run_lock) before failing with RV(error=run_lock) naming the run that holds it; V(0) does
        not wait. A line saying who holds it is printed at least every 30 seconds while waiting.
    type: int
    default: 1800
    version_added: 1.5.0
notes:
  - The admin kit holds the admin's private key; run the module where the kit lives (the control node).
  - The module uses the FLARE API of the Python that runs it; for a federation on another NVFLARE version run
    it with that version's Python (the playbooks set C(ansible_python_interpreter) from
    C(nvflare_control_python)).
  - NVFLARE before 2.8 keeps no submit tokens. The module then writes O(submit_token) into the submitted
    copy's meta (key C(edgefl_submit_token); a C(meta.conf) or C(meta.yml) is sent as the equivalent
    C(meta.json)) and finds the job again in the server's job list, so a re-run still submits nothing twice.
seealso:
  - module: edgefl.nvflare.status
  - module: edgefl.nvflare.provision
"""

EXAMPLES = r"""
- name: Run the shipped NumPy FedAvg example job and fetch its result
  edgefl.nvflare.job:
    admin_kit: "{{ nvflare_workspace }}/admin/admin@nvidia.com"
    src: "{{ playbook_dir }}/files/jobs/numpy_fedavg"
    timeout: 600
    dest: "{{ playbook_dir }}/results"
  delegate_to: localhost
  run_once: true
  register: fl_job

- name: Show the final status
  ansible.builtin.debug:
    msg: "{{ fl_job.job_id }}: {{ fl_job.status }} -> {{ fl_job.result_path }}"

- name: Submit the same folder again as a second, separate run without waiting
  edgefl.nvflare.job:
    admin_kit: /home/me/nvflare-ws/admin/admin@nvidia.com
    src: /home/me/jobs/numpy_fedavg
    submit_token: numpy-fedavg-run-2
    wait: false
"""

RETURN = r"""
job_folder:
  description: The job folder that was checked and submitted; O(src), or the one job folder inside it.
  returned: when O(src) is given and the checks passed
  type: str
  sample: /home/me/jobs/export/numpy_fedavg
  version_added: 1.5.0
job_id:
  description: ID of the job the submit token resolves to (null in check mode when nothing was submitted yet).
  returned: always
  type: str
  sample: c174f0d6-6e70-4a6d-9bd4-4d93700a3018
submit_token:
  description: The submit token used.
  returned: always
  type: str
  sample: edgefl-numpy_fedavg-0f5c1d2e3a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9
submitted:
  description: Whether this run submitted the job (false when the token already had a job).
  returned: always
  type: bool
status:
  description: Last known job status, for example C(SUBMITTED), C(RUNNING) or C(FINISHED:COMPLETED).
  returned: always
  type: str
  sample: "FINISHED:COMPLETED"
round:
  description: The last training round the server's job log says started (C(Round <n> started), written by
    NVFLARE's FedAvg and ScatterAndGather; numbered from 0); null when there is no such line yet.
  returned: when O(progress=true), O(wait=false) and the job has not ended
  type: int
  sample: 2
  version_added: 1.1.0
duration:
  description: Job run time as reported by the server.
  returned: when known
  type: str
  sample: "0:00:16.899939"
result_path:
  description: Directory holding the downloaded result (C(<dest>/<job_id>)); the global model of NumPy jobs is
    C(workspace/models/server.npy) inside it.
  returned: when O(dest) is set and the job finished
  type: str
  sample: /home/me/results/c174f0d6-6e70-4a6d-9bd4-4d93700a3018
job_meta:
  description: Selected job metadata from the server.
  returned: when a job exists
  type: dict
  sample: {"name": "numpy_fedavg", "min_clients": 2, "job_deploy_detail": ["server: OK", "site-1: OK"]}
error:
  description: Kind of failure, one of C(unreachable), C(auth), C(timeout), C(job_failed), C(invalid_job),
    C(token_conflict), C(admin_kit), C(run_lock), C(server_error) (the server failed on a request and sent only
    C(server internal error)).
  returned: failure
  type: str
  sample: unreachable
aborted:
  description: The job was aborted because the wait timed out (O(abort_on_timeout)).
  returned: when O(abort_on_timeout=true) and the wait timed out
  type: bool
  sample: true
  version_added: 1.5.0
waited_status:
  description: The job's status when the wait timed out (RV(status) is its status afterwards, which differs after an
    abort).
  returned: when RV(error=timeout)
  type: str
  sample: SUBMITTED
  version_added: 1.5.0
reason:
  description: Why the job had not finished when the wait timed out (the clients its deploy_map names that are not
    connected, for example), and whether it stays queued on the server or was aborted; the end of C(msg).
  returned: when RV(error=timeout)
  type: str
  version_added: 1.5.0
oversized_files:
  description: The job's files larger than the server hashes for a submit token (paths inside the job folder); the
    token was kept in the job's meta instead (O(submit_token)).
  returned: when the job has such files
  type: list
  elements: str
  sample: ["app/custom/weights.pt"]
  version_added: 1.5.0
log_tail:
  description: Tail of the server's job log when the job did not complete.
  returned: when RV(error=job_failed)
  type: str
run_lock:
  description:
    - How the submission took O(run_lock) (C(acquired), C(held_by_this_run), C(waited) in seconds, C(msg)) and the
      run that held it while submitting (C(holder), as RV(edgefl.nvflare.run_lock#module:holder)).
  returned: when O(run_lock) is set, outside check mode
  type: dict
  sample: {"acquired": true, "held_by_this_run": false, "waited": 12.4, "msg": "held for this step after 12 s",
           "holder": {"pid": 4242, "user": "me", "host": "laptop", "command": "ansible-playbook submit_job.yml",
                      "since": "2026-12-05T03:41:07Z"}}
  version_added: 1.5.0
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.edgefl.nvflare.plugins.module_utils._base import EdgeflModule, ModuleError
from ansible_collections.edgefl.nvflare.plugins.module_utils._flare import NVFLARE_IMPORT_ERROR, SESSION_ARGUMENT_SPEC
from ansible_collections.edgefl.nvflare.plugins.module_utils._flare_job import run_job


class JobModule(EdgeflModule):
    def run(self):
        params = self.module.params
        if params["timeout"] <= 0:
            raise ModuleError("timeout must be a positive number of seconds, got %s" % params["timeout"], field="timeout")
        if params["poll_interval"] <= 0:
            raise ModuleError("poll_interval must be > 0, got %s" % params["poll_interval"], field="poll_interval")
        if params["dest"] and not params["wait"] and not params["job_id"]:
            raise ModuleError("dest needs wait=true: a result can only be downloaded once the job has finished", field="dest")
        result = run_job(params, check_mode=self.check_mode, warn=self.module.warn)
        self.set_changed(result.pop("changed"))
        self.add_result(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **SESSION_ARGUMENT_SPEC,
            src=dict(type="path"),
            job_id=dict(type="str"),
            submit_token=dict(type="str", no_log=False),
            wait=dict(type="bool", default=True),
            timeout=dict(type="int", default=900),
            abort_on_timeout=dict(type="bool", default=False),
            poll_interval=dict(type="float", default=2.0),
            dest=dict(type="path"),
            log_lines=dict(type="int", default=40),
            progress=dict(type="bool", default=False),
            # taken by the action plugin around the submission (module_utils._run_lock.hold); nothing to do here
            run_lock=dict(type="path"),
            run_lock_timeout=dict(type="int", default=1800),
        ),
        required_one_of=[("src", "job_id")],
        mutually_exclusive=[("src", "job_id"), ("job_id", "submit_token")],
        supports_check_mode=True,
    )
    if NVFLARE_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("nvflare"), exception=NVFLARE_IMPORT_ERROR)
    JobModule(module).execute()


if __name__ == "__main__":
    main()
