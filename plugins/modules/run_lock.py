#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: run_lock
short_description: Let one ansible-playbook run at a time change a federation
version_added: 1.5.0
description:
  - Takes an exclusive lock (C(flock)) on O(path) on the control node for the rest of the ansible-playbook run that
    runs the task. A second run that reaches the same task waits until the first has ended, printing who holds the
    lock at least every 30 seconds, and fails after O(timeout) seconds naming the holder (command, pid, user, host,
    start time).
  - The lock is let go when the ansible-playbook process exits, however it ends (also C(kill -9)); a small process
    left by the task holds it and watches that process. Nothing stale remains to clean up. A C(kill -9) does not
    reach Ansible's workers (each runs in a session of its own); the lock is then held until the workers that were
    running a command (on a host over SSH, or locally) have finished it, and a waiting run names them.
  - A later task of the same run (C(site.yml) imports several playbooks that each take it) finds its own run in the
    lock file and goes on at once (RV(held_by_this_run)).
  - The collection's playbooks that change a federation take it first (C(playbooks/run_lock.yml)), on
    C(<nvflare_workspace>/.edgefl-run-<nvflare_project_name>.lock).
  - Runs on the control node only, through its action plugin, whatever host the task runs for.
author:
  - edgefl maintainers (@edgefl)
extends_documentation_fragment:
  - edgefl.nvflare.attributes
attributes:
  check_mode:
    support: full
    details:
      - Check mode takes the lock too, so that it never reads a federation another run is changing. A check run on a
        workspace that does not exist yet creates nothing and takes no lock.
  diff_mode:
    support: N/A
  idempotent:
    support: full
options:
  path:
    description:
      - The lock file on the control node. Its directory is created (mode C(0700)) when missing; the file is
        C(0600) and holds the current holder as one line of JSON.
    type: path
    required: true
  timeout:
    description: Seconds to wait for another run to let the lock go, then fail naming it. V(0) does not wait.
    type: int
    default: 1800
notes:
  - Runs that use different control nodes, or different copies of the workspace, do not see each other's lock.
"""

EXAMPLES = r"""
- name: Wait until no other run changes this federation, then hold it for this run
  edgefl.nvflare.run_lock:
    path: "{{ nvflare_workspace }}/.edgefl-run-{{ nvflare_project_name }}.lock"
    timeout: 600
  run_once: true
"""

RETURN = r"""
acquired:
  description: Whether this task took the lock (false when this run held it already, or in check mode before any
    workspace exists).
  type: bool
  returned: success
held_by_this_run:
  description: Whether an earlier task of the same run held the lock already.
  type: bool
  returned: success
waited:
  description: Seconds waited for another run.
  type: float
  returned: success
  sample: 0.0
holder:
  description: The run that holds the lock now (this one).
  type: dict
  returned: success
  sample: {"command": "ansible-playbook site.yml", "host": "bastion", "pid": 4242, "since": "2026-12-05T00:20:00Z",
           "start": 1234567, "user": "ops"}
path:
  description: The lock file.
  type: str
  returned: success
removed_kit_archives:
  description:
    - How many kit archives runs that have ended left in the control node's temporary directory this task removed
      (M(edgefl.nvflare.kit_push) packs each host's kit there and removes it after the transfer; a run killed in
      between leaves it, with the host's private key inside). Not removed in check mode.
  type: int
  returned: success, not in check mode
  sample: 0
msg:
  description: One line on what happened.
  type: str
  returned: always
  sample: taken after 312 s
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgefl.nvflare.plugins.module_utils._run_lock import (
    ARGUMENT_SPEC,
    RunLockError,
    acquire,
    find_owner,
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    # Without the action plugin (a module process on the control node) the owner is found the same way, further up.
    owner = find_owner()
    if owner is None:
        module.fail_json(msg="run_lock: found no ansible-playbook process above this module; run it on the control "
                             "node (the collection's action plugin does so for any host)")
    try:
        got = acquire(module.params["path"], owner, module.params["timeout"], check_mode=module.check_mode)
    except RunLockError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, path=module.params["path"], **got)


if __name__ == "__main__":
    main()
