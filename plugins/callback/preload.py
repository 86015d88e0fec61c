# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: preload
type: aggregate
short_description: Load this collection's plugins once on the controller, so that Ansible's workers share them
version_added: 0.1.0
author:
  - edgefl maintainers (@edgefl)
description:
  - When Ansible loads it, before the first play, it loads this collection's filter, lookup and action plugins, and
    ansible-core's builtin filters and tests, into the controller's process. It prints nothing unless that fails,
    in which case it prints one warning and the run goes on as without it.
  - Ansible forks a worker for every task on every host. ansible-core finds a collection's filter by loading every
    filter file of that collection, so without this callback each worker that evaluates a template naming one
    C(edgefl.nvflare) filter (the roles' variables, defaults and conditions do) loads and compiles all of them again.
    Forked after the controller loaded them, the workers inherit them instead. The collection's C(bench/README.md)
    (section "preload") has what it saves.
  - It changes no task result. Enable it in C(ansible.cfg) (C(callbacks_enabled = edgefl.nvflare.preload)),
    as the collection's own C(ansible.cfg) does, or with E(ANSIBLE_CALLBACKS_ENABLED).
"""

import pkgutil

from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import action_loader, filter_loader, lookup_loader, test_loader

COLLECTION = "edgefl.nvflare"
_PACKAGE = "ansible_collections.edgefl.nvflare.plugins"


def plugin_names(kind):
    """The names of the plugins of one kind (filter, action, ...) this collection ships: the files of plugins/<kind>."""
    try:
        package = __import__("%s.%s" % (_PACKAGE, kind), fromlist=["__path__"])
    except ImportError:
        return []
    return sorted(name for _finder, name, ispkg in pkgutil.iter_modules(package.__path__) if not ispkg)


def preload():
    """Load the plugins into this process. Returns how many of this collection's plugins were asked for."""
    count = 0
    filters = plugin_names("filter")
    if filters:
        # ansible-core's Jinja plugin loader loads every filter file of the collection (and the builtin filters)
        # to find this one
        filter_loader.get("%s.%s" % (COLLECTION, filters[0]))
        count += len(filters)
    test_loader.get("ansible.builtin.exists")  # the builtin tests
    for loader, kind in ((action_loader, "action"), (lookup_loader, "lookup")):
        for name in plugin_names(kind):
            loader.get("%s.%s" % (COLLECTION, name), class_only=True)
            count += 1
    return count


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "edgefl.nvflare.preload"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        try:
            count = preload()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # only a speed-up: without it, each worker loads what it needs, as Ansible does by default
            self._display.warning("edgefl.nvflare.preload: could not load the collection's plugins (%s); the run "
                                  "goes on without the speed-up" % exc)
            return
        self._display.vvv("edgefl.nvflare.preload: loaded %d plugins of edgefl.nvflare on the controller" % count)
