#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: admin_kit
short_description: Write an installed NVIDIA FLARE admin kit's fed_admin.json and keep it signed
version_added: 1.2.0
description:
  - Writes O(config) as C(startup/fed_admin.json) of the installed admin kit O(dest) (mode 0600), as JSON with
    sorted keys and a 2-space indent.
  - Keeps C(startup/signature.json) of O(dest) equal to the provisioned kit's (O(src)) except for the
    C(fed_admin.json) entry, which must verify the written file against the kit's C(rootCA.pem). NVFLARE 2.7.x
    refuses an admin kit whose C(fed_admin.json) does not verify (C(INVALID_SIGNATURE)).
  - The entry already in place, or the provisioned one, is kept when it verifies. Otherwise a new signature is
    made with the root CA key read from O(cert_state) (the provisioning state, on this same control node). The
    key is never returned, logged or copied. Signatures are randomised, so a signature is only made when none in
    place verifies; a second run changes nothing.
  - A kit without C(signature.json) or C(rootCA.pem) is not signed and keeps the file as it is.
  - Used by the C(edgefl.nvflare.nvflare_admin) role. O(src) and O(cert_state) are paths on the control node.
    On a local connection the module does everything there. For an admin host reached over a connection, its
    action plugin reads the two installed files on that host, decides and signs on the control node, and copies
    only the files that differ (mode 0600); the root CA key never leaves the control node.
author:
  - edgefl maintainers (@edgefl)
requirements:
  - cryptography (a dependency of ansible-core and of nvflare).
extends_documentation_fragment:
  - edgefl.nvflare.attributes
attributes:
  check_mode:
    support: full
    details:
      - On a fresh install (no O(dest) yet, as in a check run before the kit is copied) it reports both files.
  diff_mode:
    support: full
    details:
      - The diff shows C(fed_admin.json); the signature file is reported by name only.
  idempotent:
    support: full
options:
  src:
    description: The provisioned admin kit (its C(startup/signature.json) and C(startup/rootCA.pem) are read).
    type: path
    required: true
  dest:
    description: The installed admin kit (C(startup/) must exist).
    type: path
    required: true
  config:
    description: The content of C(fed_admin.json).
    type: dict
    required: true
  cert_state:
    description:
      - The provisioning state file that holds the root CA key (C(<workspace>/<project>/state/cert.json)).
      - Read only when a new signature is needed. When it is missing then, the module warns and leaves the
        provisioned entry, which NVFLARE 2.7.x refuses.
    type: path
seealso:
  - module: edgefl.nvflare.provision
"""

EXAMPLES = r"""
- name: Point the admin kit at the server's address
  edgefl.nvflare.admin_kit:
    src: /home/me/nvflare-ws/edgefl/kits/admin@nvidia.com
    dest: /home/me/nvflare-ws/admin/admin@nvidia.com
    config: "{{ provisioned | combine({'admin': {'host': '10.0.0.5'}}, recursive=true) }}"
    cert_state: /home/me/nvflare-ws/edgefl/state/cert.json
"""

RETURN = r"""
written:
  description: The files written (or that would be, in check mode), relative to O(dest).
  returned: always
  type: list
  elements: str
  sample: [startup/fed_admin.json, startup/signature.json]
signed:
  description: A new signature of C(fed_admin.json) was made with the root CA key.
  returned: always
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.edgefl.nvflare.plugins.module_utils._admin_kit import (
    CONFIG_FILE,
    CRYPTOGRAPHY_ERROR,
    SIGNATURE_FILE,
    AdminKitError,
    plan,
    read_installed,
)
from ansible_collections.edgefl.nvflare.plugins.module_utils._base import EdgeflModule, ModuleError
from ansible_collections.edgefl.nvflare.plugins.module_utils._provision import atomic_write

ARGUMENT_SPEC = dict(
    src=dict(type="path", required=True),
    dest=dict(type="path", required=True),
    config=dict(type="dict", required=True),
    cert_state=dict(type="path"),
)


class AdminKitModule(EdgeflModule):
    def run(self):
        params = self.module.params
        src = os.path.join(params["src"], "startup")
        dest = os.path.join(params["dest"], "startup")
        if not os.path.isdir(src):
            raise ModuleError("src has no startup/ folder (%s): provision the admin kit first" % src, field="src")
        # check mode on a fresh control node: the kit steps before this one did not create dest
        if not os.path.isdir(dest) and not self.check_mode:
            raise ModuleError("dest has no startup/ folder (%s); install the admin kit first" % dest, field="dest")
        try:
            todo = plan(src, read_installed(dest), params["config"], params["cert_state"] or None)
        except AdminKitError as exc:
            raise ModuleError(str(exc))
        if todo["warning"]:
            self.module.warn(todo["warning"])
        config_path = os.path.join(dest, CONFIG_FILE)
        before = None
        if todo["config"] is not None and os.path.exists(config_path):
            with open(config_path, encoding="utf-8") as f:
                before = f.read()
        written = []
        for name, key in ((CONFIG_FILE, "config"), (SIGNATURE_FILE, "signature")):
            if todo[key] is None:
                continue
            written.append("startup/" + name)
            if not self.check_mode:
                atomic_write(os.path.join(dest, name), todo[key])
        if todo["config"] is not None:
            self.set_diff(before or "", todo["config"].decode("utf-8"), before_header=config_path,
                          after_header=config_path)
        self.set_changed(bool(written))
        self.add_result(written=written, signed=todo["signed"])


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if CRYPTOGRAPHY_ERROR is not None:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(CRYPTOGRAPHY_ERROR))
    AdminKitModule(module).execute()


if __name__ == "__main__":
    main()
