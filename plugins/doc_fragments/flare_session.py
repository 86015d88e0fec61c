# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Options of the modules that open an NVFLARE admin session (FLARE API)."""

    DOCUMENTATION = r"""
options:
  admin_kit:
    description:
      - Directory of the admin participant's startup kit (it holds C(startup/fed_admin.json)), for example
        C(<nvflare_workspace>/admin/admin@nvidia.com), the copy the M(edgefl.nvflare.nvflare_admin) role installs
        and points at the server's address when the server's name does not resolve here. The provisioned kit
        (C(<nvflare_workspace>/<project>/kits/admin@nvidia.com)) dials the server by its participant name.
    type: path
    required: true
  username:
    description:
      - Admin user name (email) to log in as.
      - Defaults to the name of the O(admin_kit) directory, which is the admin's email for kits made by
        M(edgefl.nvflare.provision).
    type: str
  connect_timeout:
    description: Seconds to try to open the admin session before giving up (server unreachable).
    type: float
    default: 10
"""
