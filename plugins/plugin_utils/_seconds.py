# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A number of seconds from a filter's argument, with the error the filters share (private to this collection)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def seconds(value, what, filter_name):
    """Return ``value`` as a float, or raise "<filter_name>: <what> must be a number of seconds, got <value>".

    Booleans are refused although Python counts them as numbers: ``true`` is never meant as 1 second.
    """
    if not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise AnsibleFilterError("%s: %s must be a number of seconds, got %r" % (filter_name, what, value))
