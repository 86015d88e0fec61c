# Copyright: contributors to edgefl.nvflare
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only probe of playbooks/doctor.yml: everything the doctor checks on one host, in one run.

Runs on the TARGET as the service user, with the NVFLARE venv's python (it imports NVFLARE's own
package checker), its source fed on stdin:

    python - '<json>' < doctor_probe.py

Prints one JSON object (the facts; the filter edgefl.nvflare.doctor_report judges them):
  epoch      the host's clock when the probe started (plus the test-only clock_offset)
  controller_epoch  echoed from the arguments: the control node's clock when it sent them
  preflight  {"status": "ok"|"FAIL"|"n/a", "detail": str}: the kit's files, then NVFLARE's preflight rules
  connect    [{"target", "ok", "error"}]: TCP connects to the parent's port (the server: its own ports)
  disk       [{"path", "checked", "free_mb"}]: free space where the workspace and the job store live
  swap       {"total_mb", "free_mb"} from /proc/meminfo
  jetson     true when the Jetson release file exists
  thermal    [{"zone", "temp_c", "trip_c"}]: Jetsons only, each thermal zone and its first passive trip point

NVFLARE's preflight check (`nvflare preflight_check -p <kit>`) is not run as is: after its rules it
starts a dry run of the participant from the same kit, and its cleanup `pkill -9 -f`s that command
line - the running service's own - and, for a server, deletes the snapshot and job storage
directories. This probe runs the same checker classes (nvflare.tool.package_checker) with the dry run
left out, and on the server without the port-binding rules (the running server holds those ports;
the connect check covers them). Nothing is written: the server's writability rules would write a
temporary file into storage named in fed_server.json, and NVFLARE 2.9 kits name none there.
"""

import glob
import json
import os
import socket
import sys
import time

KIT_FILES = {
    "server": ["fed_server.json", "rootCA.pem", "server.crt", "server.key"],
    "client": ["fed_client.json", "rootCA.pem", "client.crt", "client.key"],
    "relay": ["fed_relay.json", "rootCA.pem"],
}


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError):
        return None


def kit_problems(kit, role):
    """Missing, unreadable or empty kit files, and JSON that does not parse."""
    startup = os.path.join(kit, "startup")
    if not os.path.isdir(startup):
        return ["no kit at %s" % startup]
    problems = []
    for name in KIT_FILES.get(role, []):
        text = read(os.path.join(startup, name))
        if text is None:
            problems.append("%s missing or unreadable" % name)
        elif not text.strip():
            problems.append("%s empty" % name)
        elif name.endswith(".json"):
            try:
                json.loads(text)
            except ValueError as e:
                problems.append("%s is not JSON (%s)" % (name, e))
    if role == "relay":
        certs = [p for p in glob.glob(os.path.join(startup, "*.crt")) if not p.endswith("rootCA.crt")]
        if not any(read(p[:-4] + ".key") for p in certs):
            problems.append("no certificate with its key (*.crt + *.key)")
    return problems


def _failed_rows(checker):
    rows = []
    for results in checker.report.values():
        for name, problem, _fix in results:
            if problem != "PASSED":
                rows.append("%s: %s" % (name, problem))
    return rows


def nvflare_rules(kit, role, parent):
    """NVFLARE's preflight rules for the kit, without the dry run. Returns (status, detail)."""
    try:
        from nvflare.tool.package_checker import ClientPackageChecker, ServerPackageChecker
        from nvflare.tool.package_checker.check_rule import CheckAddressBinding
        from nvflare.tool.package_checker.package_checker import CheckStatus
        from nvflare.tool.package_checker import utils
    except Exception as e:  # pylint: disable=broad-except
        return "FAIL", "cannot import NVFLARE's package checker: %s" % e
    startup = os.path.join(kit, "startup")
    if role == "client" and parent and parent.get("role") == "relay":
        # the rule dials the server named in fed_client.json; behind a relay the client dials the relay:
        # the same connectivity test (the kit's certificate and key, NVFLARE's function) against it
        scheme = utils.get_communication_scheme(kit, "fed_client.json", default_scheme="grpc")
        # by its site name, as the kit's relay__resources.json does (the nvflare_hosts role's /etc/hosts entry)
        host, port = parent.get("site_name") or parent["address"], int(parent["port"])
        try:
            if scheme in ("grpc", "agrpc"):
                up = utils.check_grpc_server_running(startup=startup, host=host, port=port)
            else:
                up = utils.check_socket_server_running(startup=startup, host=host, port=port, scheme=scheme)
        except Exception as e:  # pylint: disable=broad-except
            return "FAIL", "kit error: %s" % e
        return ("ok", "relay %s:%s answers" % (host, port)) if up else ("FAIL", "cannot connect to %s relay (%s:%s)"
                                                                        % (scheme, host, port))
    if role == "relay":
        return "ok", "kit files (NVFLARE has no relay check)"
    checker = ServerPackageChecker() if role == "server" else ClientPackageChecker()
    try:
        checker.init(package_path=kit)
    except Exception as e:  # pylint: disable=broad-except
        return "FAIL", "kit error: %s" % e
    if not checker.should_be_checked():
        return "FAIL", "not a %s kit" % role
    if role == "server":
        checker.rules = [r for r in checker.rules if not isinstance(r, CheckAddressBinding)]
    # the dry run would start a second participant and kill the running one (see the module docstring)
    checker.check_dry_run = lambda: CheckStatus.PASS
    status = checker.check()
    rows = _failed_rows(checker)
    if status in (CheckStatus.FAIL, CheckStatus.FAIL_WITH_CLEANUP) or rows:
        return "FAIL", "; ".join(rows) or "failed"
    return "ok", "NVFLARE preflight rules passed"


def preflight(args):
    problems = kit_problems(args["kit"], args["role"])
    if problems:
        return {"status": "FAIL", "detail": "; ".join(problems)}
    status, detail = nvflare_rules(args["kit"], args["role"], args.get("parent"))
    return {"status": status, "detail": detail}


def connect(targets, timeout):
    out = []
    for t in targets:
        target = "%s:%s" % (t["address"], t["port"])
        error = ""
        try:
            sock = socket.create_connection((t["address"], int(t["port"])), timeout=timeout)
            sock.close()
        except (OSError, ValueError) as e:
            error = str(e) or e.__class__.__name__
        out.append({"target": target, "name": t.get("name", ""), "ok": not error, "error": error})
    return out


def disk(paths):
    out = []
    for path in paths:
        checked = path
        while checked and not os.path.exists(checked):
            parent = os.path.dirname(checked)
            if parent == checked:
                break
            checked = parent
        try:
            st = os.statvfs(checked)
            free_mb = int(st.f_bavail * st.f_frsize // (1024 * 1024))
        except OSError:
            free_mb = None
        out.append({"path": path, "checked": checked, "free_mb": free_mb})
    return out


def swap(meminfo_file):
    text = read(meminfo_file) or ""
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("SwapTotal:", "SwapFree:"):
            values[parts[0][:-1]] = int(parts[1]) // 1024
    return {"total_mb": values.get("SwapTotal"), "free_mb": values.get("SwapFree")}


def thermal(sys_root):
    """Each thermal zone's temperature and its lowest passive trip point (where the SoC starts to throttle)."""
    zones = []
    for zone in sorted(glob.glob(os.path.join(sys_root, "sys/class/thermal/thermal_zone*"))):
        raw = (read(os.path.join(zone, "temp")) or "").strip()
        try:
            temp = int(raw) / 1000.0
        except ValueError:
            continue
        trips = []
        for type_file in glob.glob(os.path.join(zone, "trip_point_*_type")):
            if (read(type_file) or "").strip() not in ("passive", "hot"):
                continue
            value = (read(type_file[:-len("type")] + "temp") or "").strip()
            try:
                trips.append(int(value) / 1000.0)
            except ValueError:
                continue
        name = (read(os.path.join(zone, "type")) or os.path.basename(zone)).strip()
        zones.append({"zone": name, "temp_c": temp, "trip_c": min(trips) if trips else None})
    return zones


def probe(args):
    epoch = time.time() + float(args.get("clock_offset") or 0)
    sys_root = args.get("sys_root") or "/"
    jetson = os.path.exists(args.get("jetson_release_file") or "/etc/nv_tegra_release")
    return {
        "epoch": epoch,
        "controller_epoch": args.get("controller_epoch"),
        "preflight": preflight(args),
        "connect": connect(args.get("connect") or [], float(args.get("connect_timeout") or 5)),
        "disk": disk(args.get("disk_paths") or []),
        "swap": swap(args.get("meminfo_file") or "/proc/meminfo"),
        "jetson": jetson,
        "thermal": thermal(sys_root) if jetson else [],
    }


def main(argv):
    args = json.loads(argv[1])
    json.dump(probe(args), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
