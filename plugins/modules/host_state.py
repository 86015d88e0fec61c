#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: host_state
short_description: Record what a converged NVFLARE host looks like, and tell whether it still does
version_added: 1.4.0
description:
  - The no-change fast path of C(site.yml) and C(playbooks/deploy.yml). After a host converged, O(state=record)
    writes a record (O(path), root-only 0600) holding O(fingerprint) and what the roles left on the host. For each
    item of O(items), it holds a file's SHA-256, mode and owner, every entry of a small directory tree, the entry names of a
    big directory, or a unit's active and enabled state.
  - O(state=probe) reads the record and every item it names again, in one run. The host is RV(in_sync) when the
    record exists, O(fingerprint) is the recorded one and every item reads the same. Otherwise RV(reasons) names
    what differs (paths and units, never contents), and the playbook sends the host through the roles.
  - O(state=absent) removes the record (and its directory when that is left empty), so the next run takes the
    full path. C(playbooks/uninstall.yml) does this first.
  - The action plugin of the same name computes O(fingerprint) on the control node when it is not given. It hashes
    every C(nvflare_*) and C(edgefl_*) variable of the host (templated), its group names, its model
    (M(edgefl.nvflare.site) filter, passed as O(context)), the files of O(controller_paths) on the control node (the
    host's kit) and the collection's own roles, playbooks and plugins. A variable that cannot be templated yet
    (one taken from facts not gathered yet) leaves the fingerprint empty and sets RV(needs_facts); C(deploy.yml)
    then gathers the host's facts and probes again.
author:
  - edgefl maintainers (@edgefl)
extends_documentation_fragment:
  - edgefl.nvflare.attributes
attributes:
  check_mode:
    support: full
    details:
      - A probe only reads. A check run records nothing and removes nothing (V(absent) reports what it would remove).
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  state:
    description:
      - Read and compare (V(probe)), write the record (V(record)) or remove it (V(absent)).
      - V(kit_owner) reads only the root CA of O(kit_ca) (no record, no item), for the check of O(trusted_cas).
        The kit install of the C(edgefl.nvflare.nvflare_service) role runs it before a kit with another root CA
        replaces the host's.
      - V(claim) claims a host without a kit for this workspace (see O(claim)); like V(kit_owner) it reads no
        record.
    type: str
    choices: [probe, record, absent, kit_owner, claim]
    default: probe
  path:
    description: The record on the host.
    type: path
    default: /var/lib/edgefl-nvflare/fast-path/host-state.json
  fingerprint:
    description:
      - What the control node decides from, as one hash. With O(state=record), an empty value records nothing.
      - Computed by the action plugin when not given.
    type: str
  context:
    description: Data the action plugin adds to the fingerprint (the host's model). Not sent to the host.
    type: raw
  controller_paths:
    description: Files or directories on the control node the action plugin hashes into the fingerprint (the
      host's provisioned kit). A missing path counts as missing. Not sent to the host.
    type: list
    elements: path
    default: []
  kit_ca:
    description:
      - With O(state=probe) or O(state=kit_owner), the root CA of the kit installed on the host
        (C(<kit>/startup/rootCA.pem)). The task returns the digest of its certificate as RV(kit_ca), or V(null)
        when the host has no such file.
      - The action plugin compares it with O(trusted_cas) on the control node.
    type: path
  trusted_cas:
    description:
      - With O(kit_ca), the root CA files on the control node (paths or glob patterns) of the federation this run
        deploys, current and earlier (C(state/retired/*/rootCA.pem) after a root CA rotation, the C(rootCA.pem) of
        every C(prod_NN) kit of this host). A C(.json) file is read as NVFLARE's C(state/cert.json), for its
        C(root_cert). Not sent to the host.
      - When the host holds a kit whose root CA is none of these, the host belongs to another federation (another
        workspace, another operator, the manual guide). Then the task fails, and the host is left as it is, unless
        O(allow_foreign_ca). When none of these files exists, nothing is compared, except in a check run (check
        mode before the first provisioning, where no kit on a host can be this workspace's).
    type: list
    elements: path
    default: []
  allow_foreign_ca:
    description:
      - Go on when the host's kit has another root CA (RV(foreign_ca) is still set). Not sent to the host, except
        with O(claim).
      - With O(claim), a claim by another root CA is replaced by this workspace's.
    type: bool
    default: false
  claim:
    description:
      - With O(kit_ca) and O(trusted_cas) (O(state=probe) or O(state=claim), which implies it), read the claim of a
        host that has no kit (RV(claim)), and stop when a deploy from another workspace claimed it.
      - A host without a kit tells no root CA, so two workspaces deploying the same fresh hosts at once would both
        converge them. O(state=claim) writes O(claim_path) with the digest of the workspace's current root CA (the
        first of O(trusted_cas) found) and O(claim_by), unless a claim is there. Of two such tasks at once
        exactly one claim lands; the other reads it and fails, as on a host whose kit another root CA issued,
        unless O(allow_foreign_ca) (then its own claim replaces the other). C(deploy.yml) and C(add_client.yml)
        claim after the input checks, before the first role changes the host; their probe reads the claim first.
      - Once the host holds a kit, its root CA decides and the claim is not read. The C(uninstall) entry point of
        the C(edgefl.nvflare.nvflare_service) role removes the claim with the kit (C(playbooks/uninstall.yml),
        C(playbooks/remove_client.yml)).
      - A check run reads the claim and writes none. Writing it is bookkeeping, like the record, and the task does not
        report a change.
    type: bool
    default: false
  claim_path:
    description: The claim on the host (0644; it holds a certificate digest, the claiming control node and
      workspace, and a time).
    type: path
    default: /var/lib/edgefl-nvflare/claim.json
  claim_by:
    description: Who claims, for the message of a run that the claim stops (the action plugin adds the control
      node's host name).
    type: str
    default: ''
  claim_ca:
    description: Set by the action plugin (the digest to claim with). Left out in a check run.
    type: str
  claim_trusted:
    description: Set by the action plugin (the digests of O(trusted_cas)); a claim by one of them is kept as it is.
    type: list
    elements: str
    default: []
  items:
    description:
      - With O(state=record), what to record. A dict with C(path) (absolute) and C(kind), or with C(unit).
      - C(kind=file) (the default) records a file's SHA-256, size, mode and owner (or that it is missing, a link's
        target, a directory's mode and owner). C(kind=tree) records every entry below a directory the same way (up
        to 2000 entries). C(kind=names) records only the entry names of the directories a glob matches
        (C(/opt/venv/lib/*/site-packages)). C(kind=stat) records mode, owner and size without reading the file.
      - C(unit) records the systemd unit's active state (starting counts as active) and its enablement.
    type: list
    elements: dict
    default: []
notes:
  - The record is a cache, not configuration. It holds digests, never file contents; the digest of a private
    key does not reveal the key.
  - What the record does not list is not checked by a probe. The roles list what they manage; run with
    C(-e nvflare_fast_path=false) to make every host take the full path.
seealso:
  - module: edgefl.nvflare.status
"""

EXAMPLES = r"""
- name: Tell whether the host still looks as its last converge left it
  edgefl.nvflare.host_state:
    context: "{{ inventory_hostname | edgefl.nvflare.site(groups, hostvars) }}"
    controller_paths: ["{{ (inventory_hostname | edgefl.nvflare.site(groups, hostvars)).kit_dir }}"]
  register: probe

- name: Stop before a kit of another root CA replaces the one on the host, unless the workspace issued it
  edgefl.nvflare.host_state:
    state: kit_owner
    kit_ca: /var/lib/nvflare/site-1/startup/rootCA.pem
    trusted_cas: "{{ (inventory_hostname | edgefl.nvflare.site(groups, hostvars)).root_ca_files }}"

- name: Record the host after its converge
  edgefl.nvflare.host_state:
    state: record
    fingerprint: "{{ probe.fingerprint }}"
    items:
      - {path: /etc/systemd/system/nvflare-client.service}
      - {path: /var/lib/nvflare/site-1/startup, kind: tree}
      - {path: /opt/nvflare/venv/lib/*/site-packages, kind: names}
      - {unit: nvflare-client.service}
"""

RETURN = r"""
in_sync:
  description: V(probe) found the record, the same fingerprint and every recorded item unchanged.
  returned: always
  type: bool
reasons:
  description: Why the host is not in sync (at most 10, then a count).
  returned: always
  type: list
  elements: str
  sample: ["changed: /etc/hosts", "unit nvflare-client.service: failed/enabled, was active/enabled"]
fingerprint:
  description: The fingerprint compared or recorded (empty when it could not be computed).
  returned: always
  type: str
now:
  description: The host's clock (seconds since the epoch) when it was probed, for the clock-skew check.
  returned: always
  type: float
units:
  description: The state of every recorded unit, as read now (C(active), C(enabled)).
  returned: always
  type: dict
kit_ca:
  description: With O(kit_ca), the SHA-256 of the host's root CA certificate (its PEM body), or V(null) when the host
    has none.
  returned: when O(kit_ca) is set
  type: str
claim:
  description: With O(claim), the claim in force on a host without a kit (C(root_ca), C(by), C(since)), or V(null).
  returned: when O(claim) is set
  type: dict
claimed:
  description: With O(claim), whether this probe wrote the claim.
  returned: when O(claim) is set
  type: bool
foreign_ca:
  description: With O(kit_ca) and O(trusted_cas), whether the host's kit has a root CA that is none of O(trusted_cas)
    (V(null) when there was nothing to compare).
  returned: when O(kit_ca) is set
  type: bool
needs_facts:
  description: A variable of the host could not be templated because its facts were not gathered (set by the action
    plugin when it computed the fingerprint).
  returned: always
  type: bool
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgefl.nvflare.plugins.module_utils._base import EdgeflModule, ModuleError
from ansible_collections.edgefl.nvflare.plugins.module_utils._host_state import (
    HostStateError,
    ca_file_digest,
    claim_host,
    compare,
    make_record,
    normalize_items,
    observe,
    parse_systemctl_show,
    read_claim,
    read_record,
    remove_record,
    write_record,
)

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["probe", "record", "absent", "kit_owner", "claim"], default="probe"),
    path=dict(type="path", default="/var/lib/edgefl-nvflare/fast-path/host-state.json"),
    fingerprint=dict(type="str"),
    context=dict(type="raw"),
    controller_paths=dict(type="list", elements="path", default=[]),
    items=dict(type="list", elements="dict", default=[]),
    kit_ca=dict(type="path"),
    trusted_cas=dict(type="list", elements="path", default=[]),
    allow_foreign_ca=dict(type="bool", default=False),
    claim=dict(type="bool", default=False),
    claim_path=dict(type="path", default="/var/lib/edgefl-nvflare/claim.json"),
    claim_by=dict(type="str", default=""),
    claim_ca=dict(type="str"),
    claim_trusted=dict(type="list", elements="str", default=[]),
)


class HostStateModule(EdgeflModule):
    def units(self, units):
        systemctl = self.module.get_bin_path("systemctl")
        if not systemctl:
            return dict((u, {"active": "unknown", "enabled": ""}) for u in units)
        argv = [systemctl, "show", "--property=Id,ActiveState,UnitFileState", "--"] + list(units)
        rc, out, err = self.module.run_command(argv)
        if rc != 0:
            raise ModuleError("systemctl show %s failed: %s" % (" ".join(units), err.strip() or out.strip()))
        return parse_systemctl_show(out, list(units))

    def claim(self, result):
        """The claim of a host without a kit: read it, and write ours when the action plugin gave a root CA."""
        params = self.module.params
        result["claim"], result["claimed"] = None, False
        if result["kit_ca"] is not None:
            return
        path = params["claim_path"]
        try:
            if params["state"] == "claim" and params["claim_ca"] and not self.check_mode:
                result["claim"], result["claimed"] = claim_host(
                    path, params["claim_ca"], by=params["claim_by"], trusted=params["claim_trusted"],
                    replace=params["allow_foreign_ca"])
            else:
                result["claim"] = read_claim(path)
        except (OSError, IOError) as exc:
            raise ModuleError("cannot claim the host in %s: %s" % (path, exc), field="claim_path")

    def run(self):
        params = self.module.params
        state, path, fp = params["state"], params["path"], params["fingerprint"] or ""
        result = dict(in_sync=False, reasons=[], fingerprint=fp, now=time.time(), units={})
        try:
            if state == "probe":
                record = read_record(path)
                items = normalize_items(
                    (record or {}).get("items", {}).get("paths", [])
                    + [{"unit": u} for u in (record or {}).get("items", {}).get("units", [])])
                observed = observe(items, self.units)
                result["reasons"] = compare(record, fp, observed)
                result["in_sync"] = not result["reasons"]
                result["units"] = observed["units"]
                if params["kit_ca"]:
                    result["kit_ca"] = ca_file_digest(params["kit_ca"])
                    if params["claim"]:
                        self.claim(result)
            elif state in ("kit_owner", "claim"):
                if not params["kit_ca"]:
                    raise ModuleError("state=%s reads the root CA of a kit: give its path as kit_ca" % state,
                                      field="kit_ca")
                result["kit_ca"] = ca_file_digest(params["kit_ca"])
                if state == "claim":
                    self.claim(result)
            elif state == "record":
                if not fp:
                    result["reasons"] = ["no fingerprint: nothing recorded"]
                else:
                    items = normalize_items(params["items"])
                    observed = observe(items, self.units)
                    result["units"] = observed["units"]
                    if not self.check_mode:
                        self.set_changed(write_record(path, make_record(fp, items, observed)))
            else:
                self.set_changed(remove_record(path, self.check_mode))
        except HostStateError as exc:
            raise ModuleError(str(exc), field="items")
        except (OSError, IOError) as exc:
            raise ModuleError("%s: %s" % (path, exc), field="path")
        self.add_result(**result)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    HostStateModule(module).execute()


if __name__ == "__main__":
    main()
