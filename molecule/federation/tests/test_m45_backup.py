"""Federation verify, backup and restore (issue #14): the workspace (root CA, every key, every kit) goes into an
encrypted archive with playbooks/backup.yml, comes back into another directory with playbooks/restore.yml,
and a deploy from the restored workspace changes nothing on the hosts (their kits are the same kits).
"""

from __future__ import annotations

import os
import re
import stat

from fedlib import CLIENTS, SERVER, SPARE, STATE, playbook, workspace


def _recap(stdout):
    return dict(re.findall(r"^(\S+)\s+: (ok=.*)$", stdout, re.M))


def test_backup_restore_then_deploy_changes_nothing(tmp_path):
    password = tmp_path / "vault-pass"
    password.write_text("edgefl-test-backup\n")
    password.chmod(0o600)
    archive = tmp_path / "workspace.vault"
    vault = ["-e", "nvflare_backup_file=%s" % archive, "-e", "nvflare_backup_vault_password_file=%s" % password]

    proc, STATE["backup_seconds"] = playbook("backup.yml", *vault)
    assert "PRIVATE KEY" not in proc.stdout + proc.stderr
    assert stat.S_IMODE(os.stat(archive).st_mode) == 0o600
    with open(archive, "rb") as f:
        data = f.read()
    assert data.startswith(b"$ANSIBLE_VAULT;"), data[:40]
    assert b"PRIVATE KEY" not in data and b"BEGIN CERTIFICATE" not in data

    restored = tmp_path / "restored"
    restored.mkdir(mode=0o700)
    proc, STATE["restore_seconds"] = playbook("restore.yml", "-e", "nvflare_workspace=%s" % restored, *vault)
    with open(os.path.join(workspace(), "edgefl", "state", "cert.json"), "rb") as a, \
            open(os.path.join(restored, "edgefl", "state", "cert.json"), "rb") as b:
        assert a.read() == b.read(), "the restored root CA and keys differ from the original"
    # restoring the same archive again onto the restored workspace is no change
    again = playbook("restore.yml", "-e", "nvflare_workspace=%s" % restored, *vault)[0]
    assert "changed=0" in again.stdout, again.stdout[-3000:]

    # the hosts get their kits from the restored workspace: nothing to change on any of them
    proc, STATE["deploy_from_restored_seconds"] = playbook("deploy.yml", "-e", "nvflare_workspace=%s" % restored)
    recap = _recap(proc.stdout)
    for host in [SERVER] + CLIENTS + [SPARE]:
        assert host in recap and "changed=0" in recap[host] and "failed=0" in recap[host], (host, recap.get(host))
