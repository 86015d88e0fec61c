# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whose kit a host holds: the root CA of the host's kit against the root CAs of this workspace (module_utils
_host_state, the host_state action plugin), on real self-signed CA certificates, and through ansible-playbook."""

from __future__ import annotations

import datetime
import hashlib
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT, flat, run_playbook
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.edgefl.nvflare.plugins.action.host_state import RUN_ONLY_VARS, foreign_ca_check
from ansible_collections.edgefl.nvflare.plugins.module_utils import _host_state as hs
from ansible_collections.edgefl.nvflare.plugins.module_utils._provision import Layout


def root_ca(name):
    """A self-signed CA certificate as PEM text, as NVFLARE's rootCA.pem holds one."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


@pytest.fixture(scope="module")
def cas():
    return {"ours": root_ca("ours"), "retired": root_ca("ours"), "theirs": root_ca("theirs")}


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_the_digest_is_the_certificate_not_its_layout(cas):
    pem = cas["ours"]
    body = "".join(pem.split("-----")[2].split())
    assert hs.cert_digest(pem) == hashlib.sha256(body.encode("ascii")).hexdigest()
    # CRLF line ends, other wrapping, text around it: the same certificate
    rewrapped = "subject=CN=ours\r\n-----BEGIN CERTIFICATE-----\r\n%s\r\n-----END CERTIFICATE-----\r\n" % body
    assert hs.cert_digest(rewrapped) == hs.cert_digest(pem)
    assert hs.cert_digest(cas["theirs"]) != hs.cert_digest(pem)
    # the same name on another key is another CA
    assert hs.cert_digest(cas["retired"]) != hs.cert_digest(pem)
    assert hs.cert_digest("no certificate here") is None
    assert hs.cert_digest("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n") is None


def test_a_file_that_tells_nothing_gives_no_digest(tmp_path, cas):
    assert hs.ca_file_digest(str(tmp_path / "missing.pem")) is None
    assert hs.ca_file_digest(write(tmp_path / "garbage.pem", "broken")) is None
    assert hs.ca_file_digest(write(tmp_path / "huge.pem", cas["ours"] + "x" * hs.CA_MAX_BYTES)) is None
    assert hs.ca_file_digest(write(tmp_path / "ok.pem", cas["ours"])) == hs.cert_digest(cas["ours"])


def workspace(tmp_path, cas):
    """A control-node project: the current kit of site-1, an older prod_NN, a retired root CA; the patterns
    playbooks/vars/kit_owner.yml gives the action plugin (state/cert.json is not written here)."""
    proj = tmp_path / "ws" / "fed"
    write(proj / "prod_01" / "site-1" / "startup" / "rootCA.pem", cas["ours"])
    write(proj / "prod_00" / "site-1" / "startup" / "rootCA.pem", cas["retired"])
    write(proj / "state" / "retired" / "20261201T000000000000Z" / "rootCA.pem", cas["retired"])
    (proj / "kits").mkdir()
    (proj / "kits" / "site-1").symlink_to("../prod_01/site-1")
    patterns = Layout(str(tmp_path / "ws"), "fed").root_ca_files("site-1")
    assert patterns == [str(proj / "kits" / "site-1" / "startup" / "rootCA.pem"),
                        str(proj / "state" / "cert.json"),
                        str(proj / "prod_*" / "site-1" / "startup" / "rootCA.pem"),
                        str(proj / "state" / "retired" / "*" / "rootCA.pem")]
    return patterns


def test_trusted_cas_are_every_root_ca_of_the_workspace(tmp_path, cas):
    patterns = workspace(tmp_path, cas)
    trusted = hs.trusted_ca_digests(patterns)
    assert sorted(trusted) == sorted({hs.cert_digest(cas["ours"]), hs.cert_digest(cas["retired"])})
    # the current kit is named first (the message names it)
    assert trusted[hs.cert_digest(cas["ours"])] == patterns[0]
    assert hs.trusted_ca_digests([str(tmp_path / "nothing" / "*.pem")]) == {}


def test_cert_json_gives_the_current_root_ca(tmp_path, cas):
    """NVFLARE's state/cert.json names the workspace's root CA even where no kit of the host is left (a client
    removed and added again); a cert.json without one, or no JSON, names none."""
    state = tmp_path / "state"
    cert = write(state / "cert.json", '{"root_cert": %s, "root_pri_key": "SECRET"}'
                 % json.dumps(cas["ours"].replace("\n", "\r\n")))
    assert hs.trusted_ca_digests([cert]) == {hs.cert_digest(cas["ours"]): cert}
    write(state / "cert.json", '{"other": 1}')
    assert hs.trusted_ca_digests([cert]) == {}
    write(state / "cert.json", "not json")
    assert hs.trusted_ca_digests([cert]) == {}


def test_foreign_check_decides(tmp_path, cas):
    patterns = workspace(tmp_path, cas)
    ours, retired, theirs = (hs.cert_digest(cas[k]) for k in ("ours", "retired", "theirs"))
    kit = "/var/lib/nvflare/site-1/startup/rootCA.pem"
    assert foreign_ca_check("h", kit, ours, patterns, False) == (False, "")
    # a host that missed a root CA rotation still belongs here: rotate_ca.yml brings it over
    assert foreign_ca_check("h", kit, retired, patterns, False) == (False, "")
    # nothing to compare: no kit on the host, no pattern, or no root CA on the control node yet (check mode)
    assert foreign_ca_check("h", kit, None, patterns, False) == (None, "")
    assert foreign_ca_check("h", kit, theirs, [], False) == (None, "")
    assert foreign_ca_check("h", kit, theirs, [str(tmp_path / "none.pem")], False) == (None, "")
    foreign, msg = foreign_ca_check("h", kit, theirs, patterns, False)
    assert foreign is True
    assert msg.startswith("h holds an NVFLARE kit (%s) issued by another root CA (certificate SHA-256 %s)"
                          % (kit, theirs[:16]))
    assert patterns[0] in msg and "Nothing was changed on it" in msg and "nvflare_replace_foreign_kit=true" in msg
    assert foreign_ca_check("h", kit, theirs, patterns, True) == (True, "")
    # check mode before the first provisioning: the workspace has no root CA, so no kit can be its
    empty = [str(tmp_path / "fresh" / "fed" / "state" / "cert.json")]
    assert foreign_ca_check("h", kit, theirs, empty, False) == (None, "")
    foreign, msg = foreign_ca_check("h", kit, theirs, empty, False, check_run=True)
    assert foreign is True and "this workspace's, which has no root CA yet" in msg
    assert foreign_ca_check("h", kit, None, empty, False, check_run=True) == (None, "")
    assert foreign_ca_check("h", kit, ours, patterns, False, check_run=True) == (False, "")
    # the override steers one run: it is no input of the host's fingerprint
    assert "nvflare_replace_foreign_kit" in RUN_ONLY_VARS


PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Probe
      edgefl.nvflare.host_state:
        path: "{{ record }}"
        fingerprint: ""
        kit_ca: "{{ kit_ca }}"
        trusted_cas: "{{ trusted }}"
        allow_foreign_ca: "{{ allow | default(false) }}"
      register: probe
    - name: Show
      ansible.builtin.debug:
        msg: "foreign={{ probe.foreign_ca | to_json }} kit_ca={{ probe.kit_ca | to_json }}"
"""


@pytest.mark.parametrize("host_ca, allow, rc, expect", [
    ("ours", False, 0, 'foreign=false kit_ca="%(ours)s"'),
    ("retired", False, 0, 'foreign=false kit_ca="%(retired)s"'),
    ("theirs", False, 2, "issued by another root CA (certificate SHA-256 %(theirs16)s)"),
    ("theirs", True, 0, 'foreign=true kit_ca="%(theirs)s"'),
    (None, False, 0, "foreign=null kit_ca=null"),
])
def test_through_ansible_playbook(tmp_path, cas, host_ca, allow, rc, expect):
    patterns = workspace(tmp_path, cas)
    # state/cert.json holds the current root CA, as NVFLARE writes it
    write(tmp_path / "ws" / "fed" / "state" / "cert.json", json.dumps({"root_cert": cas["ours"]}))
    kit_ca = tmp_path / "host" / "startup" / "rootCA.pem"
    if host_ca:
        write(kit_ca, cas[host_ca])
    (tmp_path / "play.yml").write_text(PLAY)
    extra = ["-e", '{"record": "%s", "kit_ca": "%s", "trusted": %s, "allow": %s}' % (
        tmp_path / "record.json", kit_ca, str(patterns).replace("'", '"'), str(allow).lower())]
    proc = run_playbook(tmp_path, "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
                        "play.yml", *extra)
    out = flat(proc.stdout + proc.stderr)
    digests = dict((k, hs.cert_digest(v)) for k, v in cas.items())
    digests["theirs16"] = digests["theirs"][:16]
    assert proc.returncode == rc, out[-3000:]
    assert expect % digests in out, out[-3000:]
    # the probe reads only: no record written, nothing changed
    assert not (tmp_path / "record.json").exists()
    assert "changed=0" in out


def test_check_mode_on_a_workspace_without_a_root_ca(tmp_path, cas):
    """site.yml --check before the first provisioning: the probe (check_mode: false itself) still knows the run is a
    check run, and stops a host that holds a kit; a host without one goes on."""
    fresh = tmp_path / "fresh" / "fed"
    patterns = [str(fresh / "kits" / "site-1" / "startup" / "rootCA.pem"), str(fresh / "state" / "cert.json")]
    kit_ca = tmp_path / "host" / "startup" / "rootCA.pem"
    write(kit_ca, cas["theirs"])
    (tmp_path / "play.yml").write_text(PLAY.replace("      register: probe", "      register: probe\n      check_mode: false"))
    extra = ["-e", '{"record": "%s", "kit_ca": "%s", "trusted": %s}' % (
        tmp_path / "record.json", kit_ca, str(patterns).replace("'", '"'))]
    base = ["-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, "play.yml"] + extra
    proc = run_playbook(tmp_path, *base, "--check")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 2 and "which has no root CA yet" in out, out[-3000:]
    # not a check run: provisioning would have made the root CA first; without one nothing is compared
    proc = run_playbook(tmp_path, *base)
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0 and "foreign=null" in out, out[-3000:]
    kit_ca.unlink()
    proc = run_playbook(tmp_path, *base, "--check")
    assert proc.returncode == 0, proc.stdout[-3000:]


KIT_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Probe the kit
      ansible.builtin.import_role:
        name: edgefl.nvflare.nvflare_common
        tasks_from: kit_probe
      vars:
        nvflare_common_kit_src: "{{ src }}"
        nvflare_common_kit_dest: "{{ dest }}"
    - name: Install the kit
      ansible.builtin.import_role:
        name: edgefl.nvflare.nvflare_common
        tasks_from: kit_install
      vars:
        nvflare_common_kit_trusted_cas: "{{ trusted }}"
        nvflare_common_kit_allow_foreign_ca: "{{ allow }}"
"""
KIT_FILES = {"startup/client.crt": "crt", "startup/client.key": "SECRET KEY", "startup/fed_client.json": "{}",
             "local/resources.json.default": "{}"}


def host_kit(tmp_path, cas, host_ca, changed_file=False):
    """The kit the nvflare_common kit install finds on the host: its root CA from cas[host_ca], the other files as
    the workspace's kit has them (one of them different with changed_file)."""
    dest = tmp_path / "host" / "site-1"
    for rel, text in KIT_FILES.items():
        write(dest / rel, text + (" old" if changed_file and rel.endswith(".crt") else ""))
    write(dest / "startup" / "rootCA.pem", cas[host_ca])
    for d in (dest, dest / "startup", dest / "local"):
        d.chmod(0o700)
    (dest / "transfer").mkdir(mode=0o700)
    for rel in list(KIT_FILES) + ["startup/rootCA.pem"]:
        (dest / rel).chmod(0o600)
    return dest


def snapshot(root):
    return dict((str(p.relative_to(root)), p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file())


@pytest.mark.parametrize("host_ca, trusted, allow, check, rc", [
    ("theirs", True, False, False, 2),   # another federation's kit: refused, not a file of it changed
    ("theirs", True, False, True, 2),    # check mode says so too
    ("retired", True, False, False, 0),  # this workspace's earlier root CA (rotate_ca.yml rolls the new one out)
    ("theirs", True, True, False, 0),    # moved on purpose
    ("theirs", False, False, False, 0),  # nvflare_common_kit_trusted_cas: [] checks nothing
])
def test_kit_install_refuses_to_replace_a_kit_of_another_root_ca(tmp_path, cas, host_ca, trusted, allow, check, rc):
    """The kit install (roles/nvflare_common kit_install, what nvflare_service runs) before it would replace the host's
    root CA: runs limited by tags, the role on its own, renew_certs/rotate_ca/upgrade get the same check as deploy.yml's
    probe."""
    patterns = workspace(tmp_path, cas)
    src = tmp_path / "ws" / "fed" / "kits" / "site-1"
    for rel, text in KIT_FILES.items():
        write(src / rel, text)
    dest = host_kit(tmp_path, cas, host_ca)
    # a directory the install would fix (mode): on a refused host it stays as it is
    (dest / "local").chmod(0o755)
    before = snapshot(dest)
    (tmp_path / "play.yml").write_text(KIT_PLAY)
    extra = {"src": str(src), "dest": str(dest), "trusted": patterns if trusted else [], "allow": allow}
    proc = run_playbook(tmp_path, "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
                        "-e", json.dumps(extra), "play.yml", *(["--check"] if check else []))
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == rc, out[-3000:]
    if rc:
        assert ("localhost holds an NVFLARE kit (%s/startup/rootCA.pem) issued by another root CA (certificate SHA-256 "
                "%s)" % (dest, hs.cert_digest(cas["theirs"])[:16])) in out, out[-3000:]
        assert "No directory or file of its kit was changed" in out and "nvflare_replace_foreign_kit=true" in out, out[-3000:]
        assert "BEGIN CERTIFICATE" not in out and "SECRET" not in out
    if rc or check:
        assert snapshot(dest) == before
        assert (dest / "local").stat().st_mode & 0o777 == 0o755
    else:
        assert (dest / "local").stat().st_mode & 0o777 == 0o700
        assert (dest / "startup" / "rootCA.pem").read_text() == cas["ours"]
        assert "changed=1" in out or "changed=2" in out, out[-3000:]


def test_kit_install_of_the_same_root_ca_reads_no_root_ca(tmp_path, cas):
    """A kit file other than the root CA changed (a renewal): the check is skipped (no module run), the file installed."""
    patterns = workspace(tmp_path, cas)
    src = tmp_path / "ws" / "fed" / "kits" / "site-1"
    for rel, text in KIT_FILES.items():
        write(src / rel, text)
    dest = host_kit(tmp_path, cas, "ours", changed_file=True)
    # one kit directory missing, one with another mode: the kit is read from the ones there, then they are made right
    (dest / "transfer").rmdir()
    (dest / "local").chmod(0o755)
    (tmp_path / "play.yml").write_text(KIT_PLAY)
    extra = {"src": str(src), "dest": str(dest), "trusted": patterns, "allow": False}
    proc = run_playbook(tmp_path, "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
                        "-e", json.dumps(extra), "-v", "play.yml")
    out = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out[-3000:]
    assert (dest / "startup" / "client.crt").read_text() == "crt"
    stop = out.split("TASK [edgefl.nvflare.nvflare_common : Stop when the host's kit was issued", 1)[1].split("TASK [", 1)[0]
    assert "skipping: [localhost]" in stop and '"kit_ca"' not in stop, stop
    # only the changed file was installed (the rest was found on the host), and the directories were made right
    whole = out.split("TASK [edgefl.nvflare.nvflare_common : Install the new or changed kit files as one archive", 1)[1]
    assert "skipping: [localhost]" in whole.split("TASK [", 1)[0], whole[:2000]
    assert (dest / "transfer").is_dir() and (dest / "local").stat().st_mode & 0o777 == 0o700


# The claim of a host without a kit (host_state claim / state=claim): two workspaces deploying the same fresh hosts.

def test_a_claim_is_written_once_and_kept(tmp_path, cas):
    ours, retired, theirs = (hs.cert_digest(cas[k]) for k in ("ours", "retired", "theirs"))
    path = str(tmp_path / "state" / "claim.json")
    claim, written = hs.claim_host(path, ours, by="ctl:/ws", trusted=[ours, retired], now=1000.0)
    assert written and claim == {"format": 1, "root_ca": ours, "by": "ctl:/ws", "since": 1000.0}
    assert hs.read_claim(path) == claim
    assert os.stat(path).st_mode & 0o777 == 0o644
    # the same workspace again, or after its root CA rotation: kept as it is, nothing written
    mtime = os.stat(path).st_mtime_ns
    assert hs.claim_host(path, ours, trusted=[ours, retired]) == (claim, False)
    assert hs.claim_host(path, retired, trusted=[ours, retired]) == (claim, False)
    # another workspace: the claim in force is the first one's; with replace (the operator's override) it is its own
    assert hs.claim_host(path, theirs, trusted=[theirs]) == (claim, False)
    assert os.stat(path).st_mtime_ns == mtime
    taken, written = hs.claim_host(path, theirs, by="other", trusted=[theirs], replace=True, now=2000.0)
    assert written and taken["root_ca"] == theirs and hs.read_claim(path) == taken
    # replace keeps a claim of the workspace's own
    assert hs.claim_host(path, ours, trusted=[ours, theirs], replace=True) == (taken, False)
    # a file that holds no claim (empty, half-written, not JSON, no root_ca) tells nothing and is replaced
    for text in ("", "{", "[]", '{"root_ca": ""}'):
        with open(path, "w") as f:
            f.write(text)
        assert hs.read_claim(path) is None
        assert hs.claim_host(path, ours, trusted=[ours])[0]["root_ca"] == ours
    assert sorted(os.listdir(str(tmp_path / "state"))) == ["claim.json"]


def _claim_at_once(args):
    path, digest, start = args
    while time.time() < start:
        pass
    return hs.claim_host(path, digest)


def test_of_claims_made_at_once_exactly_one_lands(tmp_path):
    """Eight processes claim the same fresh host with eight root CAs at the same moment: one writes, all eight
    read back the winner's claim, no temporary file is left."""
    path = str(tmp_path / "claim.json")
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(8)]
    start = time.time() + 1.0
    with multiprocessing.get_context("fork").Pool(8) as pool:
        results = pool.map(_claim_at_once, [(path, d, start) for d in digests])
    winners = [claim for claim, written in results if written]
    assert len(winners) == 1, results
    assert all(result[0] == winners[0] for result in results)
    assert hs.read_claim(path) == winners[0]
    assert os.listdir(str(tmp_path)) == ["claim.json"]


def test_a_claim_of_another_workspace_is_refused_by_name(tmp_path, cas):
    patterns = workspace(tmp_path, cas)
    ours, retired, theirs = (hs.cert_digest(cas[k]) for k in ("ours", "retired", "theirs"))
    kit = "/var/lib/nvflare/site-1/startup/rootCA.pem"
    held = {"root_ca": theirs, "by": "laptop:/home/op/ws", "since": 0.0}
    foreign, msg = foreign_ca_check("h", kit, theirs, patterns, False, claim=held)
    assert foreign is True
    assert msg.startswith("h has no NVFLARE kit yet, but a deploy from another workspace (laptop:/home/op/ws) claimed "
                          "it at 1970-01-01 00:00:00 UTC, with another root CA (certificate SHA-256 %s)" % theirs[:16])
    assert "Nothing was changed on it" in msg and "nvflare_replace_foreign_kit=true" in msg
    assert foreign_ca_check("h", kit, theirs, patterns, True, claim=held) == (True, "")
    # this workspace's own claim, also by a root CA it retired
    assert foreign_ca_check("h", kit, ours, patterns, False, claim=held) == (False, "")
    assert foreign_ca_check("h", kit, retired, patterns, False, claim=held) == (False, "")


CLAIM_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Probe
      edgefl.nvflare.host_state:
        path: "{{ record }}"
        fingerprint: ""
        kit_ca: "{{ kit_ca }}"
        trusted_cas: "{{ trusted }}"
        allow_foreign_ca: "{{ allow | default(false) }}"
        claim: true
        claim_path: "{{ claim_path }}"
      check_mode: false
    - name: Claim
      edgefl.nvflare.host_state:
        state: claim
        kit_ca: "{{ kit_ca }}"
        trusted_cas: "{{ trusted }}"
        allow_foreign_ca: "{{ allow | default(false) }}"
        claim_path: "{{ claim_path }}"
        claim_by: "{{ by }}"
      register: claimed
    - name: Show
      ansible.builtin.debug:
        msg: "claimed={{ claimed.claimed | to_json }}"
"""


def claim_run(tmp_path, patterns, by, *args, allow=False, claim_path=None, wait=True):
    extra = {"record": str(tmp_path / "record.json"), "kit_ca": str(tmp_path / "host" / "startup" / "rootCA.pem"),
             "trusted": patterns, "allow": allow, "claim_path": str(claim_path or tmp_path / "host" / "claim.json"),
             "by": by}
    argv = ["-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
            "-e", json.dumps(extra), "play.yml", *args]
    if wait:
        proc = run_playbook(tmp_path, *argv)
        return proc.returncode, flat(proc.stdout + proc.stderr)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_LOCALHOST_WARNING="0")
    return subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), *argv],
                            cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def two_workspaces(tmp_path, cas):
    """ours: the workspace() project (state/cert.json holds its root CA); theirs: another project with its own."""
    ours = workspace(tmp_path, cas)
    write(tmp_path / "ws" / "fed" / "state" / "cert.json", json.dumps({"root_cert": cas["ours"]}))
    theirs = [str(tmp_path / "ws2" / "fed" / "kits" / "site-1" / "startup" / "rootCA.pem"),
              write(tmp_path / "ws2" / "fed" / "state" / "cert.json", json.dumps({"root_cert": cas["theirs"]}))]
    (tmp_path / "play.yml").write_text(CLAIM_PLAY)
    return ours, theirs


def test_a_second_workspace_stops_on_a_claimed_host_through_ansible_playbook(tmp_path, cas):
    ours, theirs = two_workspaces(tmp_path, cas)
    claim_path = tmp_path / "host" / "claim.json"
    digest = dict((k, hs.cert_digest(v)) for k, v in cas.items())
    # check mode on the fresh host: nothing claimed
    rc, out = claim_run(tmp_path, ours, "/ws", "--check")
    assert rc == 0 and not claim_path.exists(), out[-3000:]
    # the first workspace claims it; a bookkeeping write, no change reported; again: nothing written
    rc, out = claim_run(tmp_path, ours, "/ws")
    assert rc == 0 and "claimed=true" in out and "changed=0" in out, out[-3000:]
    held = json.loads(claim_path.read_text())
    assert held["root_ca"] == digest["ours"] and held["by"] == "%s:/ws" % socket.gethostname()
    rc, out = claim_run(tmp_path, ours, "/ws")
    assert rc == 0 and "claimed=false" in out, out[-3000:]
    # the second: stopped in the probe, in a check run too; the claim stays the first one's
    for args in ((), ("--check",)):
        rc, out = claim_run(tmp_path, theirs, "/ws2", *args)
        assert rc == 2, out[-3000:]
        assert ("localhost has no NVFLARE kit yet, but a deploy from another workspace (%s:/ws) claimed it at "
                % socket.gethostname()) in out, out[-3000:]
        assert "(certificate SHA-256 %s)" % digest["ours"][:16] in out and "TASK [Claim]" not in out, out[-3000:]
        assert json.loads(claim_path.read_text()) == held
    # with the override it takes the host; then the first is the one refused
    rc, out = claim_run(tmp_path, theirs, "/ws2", allow=True)
    assert rc == 0 and "claimed=true" in out, out[-3000:]
    assert json.loads(claim_path.read_text())["root_ca"] == digest["theirs"]
    rc, out = claim_run(tmp_path, ours, "/ws")
    assert rc == 2 and "claimed it at" in out and "(%s:/ws2)" % socket.gethostname() in out, out[-3000:]
    # once the host holds a kit, its root CA decides and the claim is not read
    write(tmp_path / "host" / "startup" / "rootCA.pem", cas["ours"])
    rc, out = claim_run(tmp_path, ours, "/ws")
    assert rc == 0 and "claimed=false" in out, out[-3000:]
    # another federation's kit: the probe stops the host; the claim task alone leaves that to the probe and the kit
    # install (a run limited by tags skips the probe and stops in the kit install, whose message says what it kept)
    write(tmp_path / "host" / "startup" / "rootCA.pem", cas["theirs"])
    rc, out = claim_run(tmp_path, ours, "/ws")
    assert rc == 2 and "localhost holds an NVFLARE kit" in out and "TASK [Claim]" not in out, out[-3000:]
    (tmp_path / "play.yml").write_text(CLAIM_PLAY.split("    - name: Claim\n", 1)[0].split("    - name: Probe\n")[0]
                                       + "    - name: Claim\n" + CLAIM_PLAY.split("    - name: Claim\n", 1)[1])
    rc, out = claim_run(tmp_path, ours, "/ws")
    assert rc == 0 and "claimed=false" in out and "TASK [Probe]" not in out, out[-3000:]


def test_two_workspaces_claiming_at_once_one_goes_on(tmp_path, cas):
    """Two ansible-playbook runs of two workspaces started together on the same fresh host: exactly one claims it
    and goes on, the other stops naming it."""
    ours, theirs = two_workspaces(tmp_path, cas)
    procs = [claim_run(tmp_path, ours, "/ws", wait=False), claim_run(tmp_path, theirs, "/ws2", wait=False)]
    outs = [flat(p.communicate(timeout=300)[0]) for p in procs]
    rcs = sorted(p.returncode for p in procs)
    assert rcs == [0, 2], outs
    winner = json.loads((tmp_path / "host" / "claim.json").read_text())
    won = 0 if winner["root_ca"] == hs.cert_digest(cas["ours"]) else 1
    assert procs[won].returncode == 0 and "claimed=true" in outs[won], outs
    assert "has no NVFLARE kit yet, but a deploy from another workspace (%s:%s)" % (
        socket.gethostname(), winner["by"].split(":", 1)[1]) in outs[1 - won], outs[1 - won][-3000:]
