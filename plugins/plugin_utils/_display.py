# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the action plugins say while a task still runs."""

from __future__ import annotations


def live_warning(display):
    """A function that shows a warning at once. Display.warning() called in a worker process (where action plugins
    run) reaches the screen only with the task's result on ansible-core 2.19: a run waiting up to 30 minutes on the
    run lock said whom it waited for only once the wait was over. Display.display() is shown while the task runs."""

    def say(msg):
        display.display("[WARNING]: %s" % msg, stderr=True)

    return say
