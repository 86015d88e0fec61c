# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: lockout_plan
short_description: Which clients the server must refuse, and what to change at the server to get there
version_added: 1.1.0
positional: _input, remove, client_names, disabled, allow_readd
author:
  - edgefl maintainers (@edgefl)
description:
  - The deny list of a federation is every name provisioning ever removed (C(removed_all) of
    M(edgefl.nvflare.provision)) plus the names being removed now (O(remove)), minus the names that hold a
    current certificate (re-added with C(nvflare_allow_readd)). Without C(certificates) in the provision result,
    the current names are O(client_names) minus the removed ones.
  - Compared with the server's own list of disabled clients (O(disabled), read from C(disabled_clients.json) in
    its workspace), returns the names to disable and the names to enable again - removed names (or names of
    O(allow_readd)) that are current again. A client disabled by hand that was never removed is left alone.
  - NVFLARE before 2.8 has no C(disable_client). When the provision result's C(nvflare_version) is older, nothing is
    to disable or enable (RV(_value.server_disables) is false) and the removed clients keep certificates the server
    accepts until the root CA changes; the playbook says so and still cleans their devices.
  - Used by C(playbooks/lockout.yml) (run by C(site.yml) and C(playbooks/remove_client.yml)).
options:
  _input:
    description:
      - The result of M(edgefl.nvflare.provision) in this run (C(removed_all), C(removed), C(certificates),
        C(nvflare_version)); V({}) when none.
    type: dict
    required: true
  remove:
    description: Site names to remove now (C(nvflare_remove_clients)).
    type: list
    elements: str
    default: []
  client_names:
    description: The client site names of the inventory.
    type: list
    elements: str
    default: []
  disabled:
    description: The names the server has disabled now.
    type: list
    elements: str
    default: []
  allow_readd:
    description:
      - Names re-added in this run (C(nvflare_allow_readd)); provisioning may no longer list them in C(removed_all).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Plan the lock-out
  ansible.builtin.set_fact:
    site_lockout: "{{ site_provision | edgefl.nvflare.lockout_plan(['site-3'], ['site-1', 'site-2'], ['site-9']) }}"
"""

RETURN = r"""
_value:
  description: The plan, every list sorted.
  type: dict
  contains:
    deny:
      description: Names the server must refuse.
      type: list
      elements: str
    disable:
      description: Names of RV(_value.deny) the server has not disabled yet.
      type: list
      elements: str
    enable:
      description: Removed (or O(allow_readd)) names that are current again and still disabled at the server.
      type: list
      elements: str
    removed_now:
      description: Names removed by this run (the provision result's C(removed) plus O(remove)), for the devices to clean.
      type: list
      elements: str
    disabled_earlier_removed:
      description:
        - Names the server is about to disable that an earlier run removed (a removal whose run was killed before
          the lock-out, or a re-installed server). Reported so that their devices can be checked; never cleaned.
      type: list
      elements: str
      version_added: 1.5.0
    server_disables:
      description:
        - Whether the server can refuse clients, NVFLARE 2.8 or later (true when the provision result names no
          version). When false, RV(_value.disable), RV(_value.enable) and RV(_value.disabled_earlier_removed) are
          empty.
      type: bool
      version_added: 1.5.0
  sample: {"deny": ["site-3"], "disable": ["site-3"], "enable": [], "removed_now": ["site-3"], "disabled_earlier_removed": [],
           "server_disables": true}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgefl.nvflare.plugins.module_utils._flare_compat import version_tuple

# NVFLARE's disable_client / enable_client (FLARE API and admin command) came with 2.8
DISABLE_CLIENT_SINCE = (2, 8)


def _names(value, what):
    if value is None:
        return set()
    if isinstance(value, str) or not isinstance(value, (list, tuple, set)):
        raise AnsibleFilterError("lockout_plan: %s must be a list of names, got %r" % (what, value))
    return set(str(v) for v in value if v)


def lockout_plan(provision, remove=None, client_names=None, disabled=None, allow_readd=None):
    provision = provision if isinstance(provision, dict) else {}
    remove = _names(remove, "remove")
    removed = _names(provision.get("removed_all"), "removed_all") | remove
    certificates = provision.get("certificates")
    if isinstance(certificates, dict) and certificates:
        current = set(certificates) - {"rootCA"}
    else:
        current = _names(client_names, "client_names") - removed
    current -= remove
    deny = removed - current
    disabled = _names(disabled, "disabled")
    version = provision.get("nvflare_version")
    server_disables = not version or version_tuple(version) >= DISABLE_CLIENT_SINCE
    removed_now = _names(provision.get("removed"), "removed") | remove
    to_disable = deny - disabled
    to_enable = disabled & (removed | _names(allow_readd, "allow_readd")) & current
    if not server_disables:  # no disable_client before 2.8: nothing to send, nothing the server refuses
        to_disable = to_enable = set()
    return {
        "deny": sorted(deny),
        "disable": sorted(to_disable),
        "enable": sorted(to_enable),
        "removed_now": sorted(removed_now),
        # names the server refuses from this run on that this run did not remove: a removal whose run was killed
        # after provisioning recorded it (the next provision result no longer lists it), or a re-installed server.
        # Reported, never cleaned: their devices were not named for removal in this run
        "disabled_earlier_removed": sorted(to_disable - removed_now),
        "server_disables": server_disables,
    }


class FilterModule:
    def filters(self):
        return {"lockout_plan": lockout_plan}
