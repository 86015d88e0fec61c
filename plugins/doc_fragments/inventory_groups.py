# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The inventory inputs every filter of the federation model takes (site, federation, participants)."""

    DOCUMENTATION = r"""
options:
  hostvars:
    description: The C(hostvars) magic variable.
    type: raw
    required: true
  server_group:
    description: Inventory group holding the one server.
    type: str
    default: nvflare_server
  client_group:
    description: Inventory group holding the clients.
    type: str
    default: nvflare_clients
  relay_group:
    description: Inventory group holding the relays.
    type: str
    default: nvflare_relays
"""
