# Copyright: contributors to edgefl.nvflare
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read what edgefl.nvflare.nvflare_venv would change on this host and decide it.

Runs on the TARGET with nvflare_venv_python (ansible.builtin.script, executable:), which
may be as old as Python 3.6: so no walrus, no f-string '=', no subprocess capture_output/text,
no importlib.metadata (the nvflare version is read from the dist-info METADATA directly).

    venv_probe.py '<json>'            the state and the decisions, one JSON object on stdout
    venv_probe.py --list-packages     the installed dpkg packages, one JSON list on stdout
    venv_probe.py --setup '<json>'    do what the probe decided for the group, user, home, venv directory and
                                      venv (a fresh host: one task instead of seven, issue #15); prints
                                      {"changed": [what it did]}; exit 1 with the failing command otherwise

<json> keys: user, group, home, parent, venv, python_bin, marker, marker_content, version,
packages, old_python_packages (optional), packages_marker, min_python, max_python (see tasks/preflight.yml).
--setup <json> keys: user, group, home, parent, venv, python_bin, python, without_pip, state_dir, parent_marker,
and the probe's create_group, update_user, update_home, update_parent, parent_exists, create_venv (tasks/platform.yml).
"""

import glob
import grp
import json
import os
import platform
import pwd
import subprocess
import sys

USER_SHELL = "/usr/sbin/nologin"
# the comment of the account the role makes: how the uninstall (filter owned_accounts) and the probe (foreign_account)
# know it is the role's own
USER_COMMENT = "NVIDIA FLARE"
DPKG_QUERY = "/usr/bin/dpkg-query"


def version_tuple(text):
    out = []
    for part in str(text).split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        out.append(int(digits or 0))
    return tuple(out)


def python_ok(version, min_python, max_python):
    """min_python <= version and version's X.Y <= max_python (any micro of the max minor)."""
    have = version_tuple(version)
    return have >= version_tuple(min_python) and have[:2] <= version_tuple(max_python)[:2]


def dir_state(path):
    """[octal mode, uid, gid] of a directory, None when it is not one."""
    if not os.path.isdir(path):
        return None
    st = os.stat(path)
    return ["%o" % (st.st_mode & 0o7777), st.st_uid, st.st_gid]


def read_text(path):
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return f.read()


def dist_version(venv, name):
    """Version of distribution `name` installed in the venv (dist-info METADATA), or None."""
    want = name.lower().replace("_", "-")
    for meta in sorted(glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "*.dist-info", "METADATA"))):
        headers = {}
        with open(meta, errors="replace") as f:
            for line in f:
                if not line.strip():
                    break
                key, sep, value = line.partition(":")
                if sep and key in ("Name", "Version"):
                    headers[key] = value.strip()
        if headers.get("Name", "").lower().replace("_", "-") == want:
            return headers.get("Version")
    return None


def dpkg_status(packages):
    """{package: installed?} for the requested packages (all False without dpkg)."""
    if not packages or not os.path.exists(DPKG_QUERY):
        return dict((p, False) for p in packages)
    out = {}
    for pkg in packages:
        proc = subprocess.Popen(
            [DPKG_QUERY, "-W", "-f=${Status}", pkg],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            universal_newlines=True,
        )
        stdout = proc.communicate()[0]
        out[pkg] = proc.returncode == 0 and stdout.strip() == "install ok installed"
    return out


def installed_packages():
    """Every package dpkg reports installed (the apt task diffs two of these lists)."""
    if not os.path.exists(DPKG_QUERY):
        return []
    proc = subprocess.Popen(
        [DPKG_QUERY, "-W", "-f=${Package}:${Architecture} ${Status}\\n"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        universal_newlines=True,
    )
    stdout = proc.communicate()[0]
    out = []
    for line in stdout.splitlines():
        fields = line.split(" ", 1)
        if len(fields) == 2 and fields[1] == "install ok installed":
            out.append(fields[0])
    return sorted(out)


def wanted_packages(args, version_info):
    """The OS packages to have: `packages`, plus `old_python_packages` on an interpreter older than 3.10
    (Debian splits distutils out of Python 3.9 and older; pip before Python 3.10 imports it)."""
    extra = (args.get("old_python_packages") or []) if tuple(version_info[:2]) < (3, 10) else []
    return list(args["packages"]) + [p for p in extra if p not in args["packages"]]


def foreign_account(user, args, user_ok):
    """Why the role must not take over USER (the pwd entry of nvflare_venv_user, None when there is none); '' when it
    may. setup() would change an existing account's home, primary group and shell (nologin): on root, or on an
    account the role did not create (its comment is not USER_COMMENT), such as a device's login user, that locks it
    out. An account that already has the role's settings needs no change."""
    if user is None or (user_ok and user.pw_uid != 0):
        return ""
    if user.pw_uid == 0:
        return ("nvflare_venv_user %r is uid 0 (root): NVFLARE runs as an unprivileged account. Use a dedicated user "
                "name (nvflare, the default, is created)" % user.pw_name)
    if user.pw_gecos == USER_COMMENT:
        return ""
    return ("nvflare_venv_user %r is an existing account that this role did not create (uid %d, home %s, shell %s); "
            "the role would change its home to %s, its primary group to %s and its shell to %s, which locks a login "
            "account out. Use a dedicated user name (nvflare, the default, is created), or, to run NVFLARE as this "
            "account on purpose, give it those settings first: usermod --home %s --gid %s --shell %s --comment '%s' %s"
            % (user.pw_name, user.pw_uid, user.pw_dir, user.pw_shell, args["home"], args["group"], USER_SHELL,
               args["home"], args["group"], USER_SHELL, USER_COMMENT, user.pw_name))


def probe(args, user_db=None, group_db=None, packages_state=None):
    """State of the host and what the install tasks have to do about it."""
    users = user_db if user_db is not None else pwd.getpwall()
    groups = group_db if group_db is not None else grp.getgrall()
    pw = [p for p in users if p.pw_name == args["user"]]
    gr = [g for g in groups if g.gr_name == args["group"]]
    user = pw[0] if pw else None
    gid = gr[0].gr_gid if gr else None

    version = "%d.%d.%d" % sys.version_info[:3]
    home = dir_state(args["home"])
    parent = dir_state(args["parent"])
    venv_exists = os.path.exists(args["python_bin"])
    nvflare = dist_version(args["venv"], "nvflare") if venv_exists else None
    marker = read_text(args["marker"])
    recorded = read_text(args["packages_marker"]) or ""
    packages = wanted_packages(args, sys.version_info)
    status = packages_state if packages_state is not None else dpkg_status(packages)

    user_ok = (
        user is not None
        and gid is not None
        and [user.pw_gid, user.pw_dir, user.pw_shell, user.pw_gecos] == [gid, args["home"], USER_SHELL, USER_COMMENT]
    )
    home_ok = user is not None and gid is not None and home == ["750", user.pw_uid, gid]
    missing = [p for p in packages if not status.get(p)]
    return {
        "version": version,
        "python_ok": python_ok(version, args["min_python"], args["max_python"]),
        "libc": list(platform.libc_ver()),
        "machine": platform.machine(),
        "nvflare": nvflare,
        "packages": packages,
        "missing_packages": missing,
        "recorded_packages": recorded.split(),
        "create_group": gid is None,
        "update_user": not user_ok,
        "user_error": foreign_account(user, args, user_ok),
        "update_home": not home_ok,
        "update_parent": parent != ["755", 0, 0],
        "parent_exists": parent is not None,
        "create_venv": not venv_exists,
        # any of the above: the role includes its platform tasks only then (a run that changes nothing skips
        # them as one task, not fourteen per host; issue #15)
        "setup_needed": bool(missing) or gid is None or not user_ok or not home_ok or parent != ["755", 0, 0]
        or not venv_exists,
        "needs_install": nvflare != args["version"] or marker != args["marker_content"],
    }


class SetupError(Exception):
    pass


def run_command(argv):
    """Run argv; raise SetupError with its output when it fails."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    out = proc.communicate()[0]
    if proc.returncode != 0:
        raise SetupError("%s failed (exit %d): %s" % (" ".join(argv), proc.returncode, out.strip()))


def make_dir(path, mode, uid, gid):
    """path a directory (parents created as needed) with exactly this mode and owner."""
    if not os.path.isdir(path):
        os.makedirs(path, 0o755)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def write_file(path, content, mode):
    tmp = path + ".edgefl-tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def user_ids(user, group):
    return pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid


def flag(value):
    """A JSON boolean, or the text Ansible may give for one."""
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


def setup(args, run=run_command, users=None, ids=user_ids):
    """Do what the probe decided: group, user, home (0750), the venv's parent (root 0755, and the marker that the
    uninstall entry point reads when this run created it), the venv. Returns what it did, in that order."""
    args = dict(args)
    for key in ("create_group", "update_user", "update_home", "update_parent", "parent_exists", "create_venv",
                "without_pip"):
        args[key] = flag(args[key])
    done = []
    if args["create_group"]:
        run(["groupadd", "--system", args["group"]])
        done.append("group")
    if args["update_user"]:
        users = users if users is not None else [p.pw_name for p in pwd.getpwall()]
        exists = args["user"] in users
        opts = ["--gid", args["group"], "--shell", USER_SHELL, "--comment", USER_COMMENT]
        if exists:
            run(["usermod", "--home", args["home"]] + opts + [args["user"]])
        else:
            run(["useradd", "--system", "--home-dir", args["home"], "--no-create-home"] + opts + [args["user"]])
        done.append("user")
    if args["update_home"]:
        uid, gid = ids(args["user"], args["group"])
        make_dir(args["home"], 0o750, uid, gid)
        done.append("home")
    if args["update_parent"]:
        make_dir(args["parent"], 0o755, 0, 0)
        done.append("parent")
    if not args["parent_exists"]:
        make_dir(args["state_dir"], 0o755, 0, 0)
        write_file(args["parent_marker"], args["parent"] + "\n", 0o644)
        done.append("parent_marker")
    if args["create_venv"] and not os.path.exists(args["python_bin"]):
        run([args["python"], "-m", "venv"] + (["--without-pip"] if args["without_pip"] else []) + [args["venv"]])
        done.append("venv")
    return done


def main(argv):
    if argv[1:] == ["--list-packages"]:
        print(json.dumps(installed_packages()))
        return 0
    if len(argv) == 3 and argv[1] == "--setup":
        try:
            print(json.dumps({"changed": setup(json.loads(argv[2]))}))
        except (SetupError, OSError, KeyError) as exc:
            print("edgefl.nvflare.nvflare_venv: setting up the host failed: %s" % exc)
            return 1
        return 0
    if len(argv) != 2:
        sys.stderr.write("usage: venv_probe.py '<json>' | --list-packages\n")
        return 2
    print(json.dumps(probe(json.loads(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
