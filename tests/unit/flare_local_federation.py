"""A real, local NVFLARE federation for the job/status module tests (helper, not a test file).

Provisions with NVFLARE's own lighter API (server "localhost", free ports on 127.0.0.1,
two clients, one project admin), starts the real server and clients as local processes
with the same foreground commands the systemd units run, and tears everything down.
"""

import os
import signal
import socket
import subprocess
import sys
import time

PROJECT = "edgefl-unit"
ADMIN = "admin@nvidia.com"
CLIENTS = ("site-1", "site-2")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def provision(workspace, fed_port, admin_port, extra_admins=()):
    from nvflare.lighter.prov_utils import prepare_builders, prepare_packager
    from nvflare.lighter.provision import prepare_project
    from nvflare.lighter.provisioner import Provisioner

    participants = [
        {"name": "localhost", "type": "server", "org": "nvidia", "fed_learn_port": fed_port, "admin_port": admin_port},
    ]
    participants += [{"name": c, "type": "client", "org": "nvidia"} for c in CLIENTS]
    participants.append({"name": ADMIN, "type": "admin", "org": "nvidia", "role": "project_admin"})
    participants += [dict(a, type="admin") for a in extra_admins]
    project_dict = {
        "api_version": 3,
        "name": PROJECT,
        "description": "edgefl.nvflare unit-test federation",
        "participants": participants,
        "builders": [
            {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder", "args": {"template_file": ["master_template.yml"]}},
            {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {"config_folder": "config"}},
            {"path": "nvflare.lighter.impl.cert.CertBuilder"},
            {"path": "nvflare.lighter.impl.signature.SignatureBuilder"},
        ],
    }
    project = prepare_project(project_dict)
    ctx = Provisioner(workspace, prepare_builders(project_dict), prepare_packager(project_dict)).provision(project)
    location = ctx.get_result_location()
    if not location or not os.path.isdir(location):
        raise RuntimeError("NVFLARE provisioning failed")
    return location


SERVICE_MODULE = {"server": "nvflare.private.fed.app.server.server_train",
                  "client": "nvflare.private.fed.app.client.client_train"}


def service_command(kit, role, site, python=sys.executable):
    """ExecStart of roles/nvflare_service/templates/nvflare.service.j2 (vars/main.yml) for this kit."""
    uid = ["uid=" + site] if role == "client" else []
    return [python, "-u", "-m", SERVICE_MODULE[role], "-m", kit, "-s", "fed_%s.json" % role, "--set",
            "secure_train=true", *uid, "org=nvidia", "config_folder=config"]


SITE_ENVIRONMENT = {"EDGEFL_TEST_SITE_VALUE": "set-on-the-sites"}


class LocalFederation:
    def __init__(self, base_dir):
        self.base_dir = base_dir
        self.fed_port = free_port()
        self.admin_port = free_port()
        self.prod = provision(os.path.join(base_dir, "ws"), self.fed_port, self.admin_port)
        self.procs = {}
        # A resources.json that keeps server jobs out of /tmp/nvflare (shared by other runs).
        server_kit = self.kit("localhost")
        store = os.path.join(base_dir, "server-store")
        with open(os.path.join(server_kit, "local", "resources.json.default")) as f:
            text = f.read()
        with open(os.path.join(server_kit, "local", "resources.json"), "w") as f:
            f.write(text.replace("/tmp/nvflare", store))

    def kit(self, name):
        return os.path.join(self.prod, name)

    @property
    def admin_kit(self):
        return self.kit(ADMIN)

    def start(self, name, role):
        kit = self.kit(name)
        log = open(os.path.join(self.base_dir, f"{name}.out"), "ab")
        # SITE_ENVIRONMENT: what nvflare_service_environment gives a service and the control node does not have;
        # a temporary directory of its own, as the unit's PrivateTmp gives it (the server keeps every upload it
        # received there), so that what is left in this machine's /tmp is the control node's
        tmp = os.path.join(self.base_dir, "tmp-" + name)
        os.makedirs(tmp, exist_ok=True)
        env = dict(os.environ, PYTHONPATH=os.path.join(kit, "local", "custom"), TMPDIR=tmp, **SITE_ENVIRONMENT)
        self.procs[name] = subprocess.Popen(
            service_command(kit, role, name), cwd=kit, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def start_all(self):
        self.start("localhost", "server")
        self._wait_port(self.fed_port)
        for c in CLIENTS:
            self.start(c, "client")

    def _wait_port(self, port, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"server port {port} never opened")

    def stop_all(self):
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.procs.values():
            proc.wait(timeout=30)
        self.procs.clear()


# --- shared by test_job.py and test_status.py: one federation per pytest process ----------
_FEDERATION = None


def get_federation(tmp_root, config):
    """Start (once) and return the shared LocalFederation; stopped when pytest unconfigures."""
    global _FEDERATION
    if _FEDERATION is None:
        fed = LocalFederation(tmp_root)
        config.add_cleanup(_stop_shared)
        _FEDERATION = fed
        fed.start_all()
    return _FEDERATION


def _stop_shared():
    global _FEDERATION
    if _FEDERATION is not None:
        _FEDERATION.stop_all()
        _FEDERATION = None


def add_collection_path():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "collections"))
    if root not in sys.path:
        sys.path.insert(0, root)


def run_module(module, args, capsys, check_mode=False):
    """Run an Ansible module's main() in-process; return (failed, result dict)."""
    import json

    from ansible.module_utils.testing import patch_module_args

    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    capsys.readouterr()
    with patch_module_args(args):
        try:
            module.main()
        except SystemExit:
            pass
    out = capsys.readouterr().out
    result = json.loads(out)
    return bool(result.get("failed")), result
