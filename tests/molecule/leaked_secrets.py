"""Did a playbook's output (stdin) print key material of a provisioning workspace?

    leaked_secrets.py WORKSPACE_PROJECT_DIR < output

Reads WORKSPACE_PROJECT_DIR/state/cert.json (the provisioning state: the root CA's and every participant's key
and certificate, base64 in PEM lines) and looks for each of its lines of 40 or more characters, and for
"PRIVATE KEY", in the output. Prints what it found and exits 1 when anything was, 0 when nothing was, 2 when the
state has too few such lines for the check to mean something.
"""

from __future__ import annotations

import json
import os
import sys


def fragments(state):
    """Every stripped line of 40+ characters of the string values in the provisioning state."""
    found = set()
    todo = [state]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
        elif isinstance(value, str):
            found.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 40)
    return found


def check(project_dir, out):
    """(exit code, message) of the check of out against project_dir/state/cert.json; the message never holds a
    fragment, only counts."""
    path = os.path.join(project_dir, "state", "cert.json")
    try:
        with open(path, encoding="utf-8") as f:
            frags = fragments(json.load(f))
    except (OSError, ValueError) as exc:
        return 2, "cannot read the provisioning state %s: %s" % (path, exc)
    if len(frags) <= 10:  # the root CA and every participant: fewer lines means the check finds nothing
        return 2, "only %d key/certificate lines in the state: nothing to check against" % len(frags)
    hits = sum(1 for frag in frags if frag in out)
    marker = "PRIVATE KEY" in out
    message = "leaked: %d of %d key/certificate lines%s" % (
        hits, len(frags), ", and the PRIVATE KEY marker" if marker else "")
    return (1 if hits or marker else 0), message


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    rc, message = check(argv[1], sys.stdin.read())
    print(message)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
