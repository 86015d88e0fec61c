# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""One base for every edgefl.nvflare module: it owns ``changed``, check mode and diff.

A module subclasses :class:`EdgeflModule`, implements :meth:`run` and calls
:meth:`set_changed` / :meth:`set_diff` / :meth:`add_result`; it raises
:class:`ModuleError` for a clean ``fail_json`` that names the offending field.
"""

from __future__ import annotations

import traceback


class ModuleError(Exception):
    """A failure to report with fail_json; ``field`` names the option at fault."""

    def __init__(self, msg, field=None, **details):
        super().__init__(msg)
        self.msg = msg
        self.field = field
        self.details = details


class EdgeflModule:
    """Changed/check-mode/diff bookkeeping shared by the collection's modules."""

    def __init__(self, module):
        self.module = module
        self.changed = False
        self.result = {}
        self._diff_before = None
        self._diff_after = None
        self._diff_headers = (None, None)

    @property
    def check_mode(self):
        return bool(self.module.check_mode)

    @property
    def diff_mode(self):
        return bool(getattr(self.module, "_diff", False))

    def set_changed(self, changed=True):
        self.changed = self.changed or bool(changed)

    def set_diff(self, before, after, before_header=None, after_header=None):
        """Record what the diff shows (strings render as a unified diff, dicts as YAML)."""
        self._diff_before = before
        self._diff_after = after
        self._diff_headers = (before_header, after_header)

    def add_result(self, **kwargs):
        self.result.update(kwargs)

    def run(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _diff(self):
        if self._diff_before is None and self._diff_after is None:
            return None
        diff = {"before": self._diff_before, "after": self._diff_after}
        if self._diff_headers[0]:
            diff["before_header"] = self._diff_headers[0]
        if self._diff_headers[1]:
            diff["after_header"] = self._diff_headers[1]
        return diff

    def outcome(self):
        """Run the module and return its result dict (``failed`` set on an error); never exits.

        This is what the collection's action plugins return; :meth:`execute` reports the same
        dict through ``exit_json`` / ``fail_json`` for a module process.
        """
        try:
            self.run()
        except ModuleError as exc:
            failed = dict(exc.details)
            if exc.field:
                failed["field"] = exc.field
            failed.update(failed=True, msg=exc.msg)
            return failed
        except Exception as exc:  # pylint: disable=broad-except
            return dict(failed=True, msg="Unexpected error: %s" % exc, exception=traceback.format_exc())
        result = dict(self.result)
        result["changed"] = self.changed
        diff = self._diff()
        if self.diff_mode and diff is not None:
            result["diff"] = diff
        return result

    def execute(self):
        """Run the module and exit; never returns."""
        result = self.outcome()
        if result.pop("failed", False):
            self.module.fail_json(**result)
        self.module.exit_json(**result)
