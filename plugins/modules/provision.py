#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: provision
short_description: Provision an NVIDIA FLARE federation (root CA, certificates, startup kits) idempotently
version_added: 0.1.0
description:
  - Runs NVIDIA FLARE provisioning on the control node, in-process through NVFLARE's lighter API
    (C(prepare_project), C(prepare_builders), C(prepare_packager), C(Provisioner)); it does not shell out to the CLI.
  - Works with NVFLARE 2.4.x through 2.9.x, through the installed version's own API. Inventory input gets that
    version's own builder list (2.4 to 2.6 with the DummyOverseerAgent, 2.4 and 2.5 with the TemplateBuilder).
    What a version cannot provision fails before anything is written, naming the option and the version. That
    covers relays before 2.6, C(connection_security) before 2.5, C(default_host) before 2.6, one shared admin and
    fed_learn port before 2.8, C(api_version) 4 before 2.8, and a builder class the version does not have. A
    project file written for another line is checked against what this line's builders need (template files,
    TemplateBuilder, the overseer agent naming the server, builder arguments it would drop); see docs/provision.md.
    Before 2.6 the server certificate names only the server. O(server.host_names) are then left out, with a warning.
  - The module runs in the Python of the task's C(ansible_python_interpreter). It runs in-process when that is
    the Python running Ansible, else as a module process under that Python. C(playbooks/provision.yml) sets it
    from C(nvflare_control_python), for example a venv made by C(scripts/nvflare-venv.sh 2.4.2).
  - Each participant's current kit is reachable at the stable path C(<workspace>/<project>/kits/<name>/)
    (C(startup/), C(local/), C(transfer/)), a symlink into the C(prod_NN) directory that built it.
    For admins the name is the e-mail address.
  - Idempotent. The same spec with all kits present changes nothing. No new C(prod_NN), no key generated,
    no file rewritten.
  - Adding a participant generates only that participant's key and kit. The root CA and every other
    certificate, key and kit stay byte-identical (NVFLARE reuses the keys recorded in C(state/cert.json)).
  - Relays (O(relays), NVFLARE 2.6 or later) give a hierarchical federation. Clients and relays with
    C(connect_to) reach the server through a relay, and relays can chain. Each relay's kit
    (C(startup/fed_relay.json)) dials its parent, the server's fed_learn port or the parent relay's
    O(relays[].host):O(relays[].port). A client behind a relay gets C(local/relay__resources.json), which
    dials that relay.
  - With relays, NVFLARE writes into the server's kit and into every client's kit the certificate identity of
    every client behind a relay (and of every chained relay), its C(auth_identity_map). Adding, moving or removing
    such a client therefore also rebuilds the server kit and every client kit with their keys kept. Only
    C(fed_server.json) and C(fed_client.json) change in them (RV(reasons) says V(relay routes changed)). Relay
    and admin kits stay byte-identical, and the new client gets the only new key. Adding a relay, or a client
    that connects to the server, builds only that kit.
  - A participant recorded in the workspace that is no longer in the wanted list, or is named in O(remove), is
    removed. Its key is deleted from C(state/cert.json), its private keys are deleted from every C(prod_NN) copy
    of its kit and its C(kits/<name>) link is removed. The state records it as removed, with the UTC date.
    Adding the name again fails with the way out, unless it is in O(allow_readd) (it then gets a new key).
  - A run that would remove every client, or more than 3 participants, by their absence from the wanted list
    fails before any change and lists them. Naming them in O(remove) confirms the removal.
  - Lifetimes. A new root CA is valid for O(ca_validity_days) (default 3650 days), participant certificates for
    O(cert_validity_days) (default 365 days), never past the root CA's end. Changing either never rebuilds
    anything by itself. They apply to the next certificate issued. O(renew) re-issues every participant
    certificate under the same root CA. O(rotate_ca) makes a new root CA and re-issues every kit. The old root
    CA is kept under C(state/retired/<UTC time>/). RV(certificates) gives every expiry date, in every run.
  - Concurrent runs on one workspace are serialised by a lock (C(state/edgefl_provision.lock), C(flock)). A run
    waits up to O(lock_timeout) seconds, with a warning naming the holder, then fails naming it. Check mode
    takes the lock too, except on a workspace that does not exist yet.
  - Crash safety. NVFLARE builds in a private staging copy of the workspace. Its output, C(cert.json), the
    kit links and the state are moved in with atomic renames, each fsynced. A run killed at any point, even
    with C(kill -9), leaves a workspace the next run finishes. That run rebuilds kits the state does not
    record, or whose certificate is not the one in C(cert.json), and says so in RV(reasons).
  - A change of a federation-wide setting (project, server name or ports, default host, connection security,
    builders, NVFLARE version) rebuilds every kit into a new C(prod_NN), reusing all keys. A change of a
    participant's certificate content (org, admin role, server host names) gives that participant a new
    key pair. RV(reasons) says why each kit was rebuilt.
  - The state directory holding the root CA key is made C(0700) and its files C(0600). Private keys in kits are C(0600). No key material is ever returned.
  - Input is validated before anything is written, with NVFLARE's own name rules, port ranges and
    C(netaddr) for IP addresses. Errors name the field at fault and how to fix it. That includes an unknown
    C(connect_to) target, a relay cycle, two relays on one address and port, and a name used twice among the
    server, relays, clients and admins.
  - It always runs on the control node, as an action plugin inside the Ansible process that runs the task,
    as the user who runs Ansible, whatever host the task is for. It needs no connection to that host and starts
    no module process, so a no-change run costs a few hundredths of a second.
author:
  - edgefl maintainers (@edgefl)
requirements:
  - nvflare 2.4.x to 2.9.x (the same version as O(nvflare_version)) and netaddr in the Python that runs the task on the
    control node (C(ansible_python_interpreter), by default C(ansible_playbook_python)).
  - nvflare 2.6.0 or later for O(relays). An older nvflare fails with an error naming that version.
extends_documentation_fragment:
  - edgefl.nvflare.attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.action_common_attributes.conn
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: none
    details: Runs as the user who runs Ansible; the workspace belongs to that user.
  bypass_host_loop:
    support: none
  connection:
    support: none
  delegation:
    support: none
    details: Always runs on the control node; C(delegate_to) changes nothing.
  check_mode:
    support: full
    details:
      - Reports what would be added, removed and rebuilt and writes nothing, not even the workspace directory.
      - On an existing workspace it takes the workspace lock (and writes its holder into the lock file) so it
        never reads a state another run is writing.
  diff_mode:
    support: full
    details: Shows the participant list before and after.
  idempotent:
    support: full
options:
  workspace:
    description:
      - Control-node provisioning workspace directory. It is created with mode C(0700) if missing.
      - The project lives in C(<workspace>/<project_name>/). It holds the root CA private key. Keep it
        out of version control and back it up.
    type: path
    required: true
  project_name:
    description:
      - Name of the federation (NVFLARE project), 1-63 characters (letters, digits, C(_), C(-), C(.), starting with
        a letter or digit). Becomes the root CA's common name and the project directory's name.
      - Required unless O(project_file) is given.
    type: str
  project_file:
    description:
      - Use an existing NVFLARE C(project.yml) instead of O(project_name), O(server), O(relays), O(clients),
        O(admins), O(org) and O(connection_security).
      - Its CertBuilder's C(root_valid_days) is the validity of a new root CA unless O(ca_validity_days) is set.
      - Its relays need a C(listening_host) mapping with C(port). Their C(connect_to) and the clients'
        C(connect_to) are checked like O(relays[].connect_to).
      - Its server's C(admin_port) defaults to V(8003) when unset, like O(server.admin_port). On NVFLARE 2.7 and
        later, whose C(nvflare provision) puts the admin on C(fed_learn_port) then, a warning says so until the
        file sets C(admin_port).
      - Its C(name) follows the rule of O(project_name) (the project directory and the root CA's common name).
      - Its ports are whole numbers; a quoted one (V("8002"), which NVFLARE 2.9 provisions too) is read as that number.
      - Its C(include) entries are merged by NVFLARE's own reader, as C(nvflare provision) does.
      - Edge projects (C(edge:)) are not supported. Relays are. Neither is the high availability of NVFLARE before
        2.5 (an C(overseer) participant and several servers); the error says what to remove.
    type: path
  org:
    description: Organisation of participants that do not set their own.
    type: str
    default: nvidia
  server:
    description: The one FL server.
    type: dict
    suboptions:
      name:
        description:
          - Server name as clients and admins dial it unless O(server.default_host) is set. Becomes the CN
            of its certificate; a DNS-style name.
        type: str
        required: true
      org:
        description: Organisation of the server. Defaults to O(org).
        type: str
      fed_learn_port:
        description: Port clients connect to. Defaults to V(8002).
        type: int
      admin_port:
        description:
          - Port admin consoles connect to. Defaults to V(8003). NVFLARE 2.7 and later would put it on
            O(server.fed_learn_port).
          - One shared port is accepted only when both O(server.fed_learn_port) and O(server.admin_port) are set
            explicitly, and needs NVFLARE 2.7 or later.
        type: int
      default_host:
        description: Host name or IP address clients and admins dial instead of O(server.name).
        type: str
      host_names:
        description: Extra host names or IP addresses put in the server certificate.
        type: list
        elements: str
      host:
        description:
          - Address of the server machine (for example its C(ansible_host)). Validated and returned in
            RV(participants); it does not enter the kits. Use O(server.host_names) to put it in the certificate.
        type: str
  relays:
    description:
      - NVFLARE relays. Each listens on O(relays[].host):O(relays[].port) for the clients and relays that
        connect to it, and connects to the server or to another relay.
      - Needs nvflare 2.6.0 or later on the control node.
    type: list
    elements: dict
    default: []
    version_added: 0.2.0
    suboptions:
      name:
        description: Relay name (letters, digits, C(-), C(_)). Becomes the CN of its certificates.
        type: str
        required: true
      org:
        description: Organisation. Defaults to O(org).
        type: str
      host:
        description:
          - Address the relay listens on and its children dial (NVFLARE's C(listening_host.default_host)).
            An IP address is also put in its listener certificate.
          - Defaults to the relay's name, which must then resolve on its clients (C(/etc/hosts) or DNS).
        type: str
      port:
        description: Port the relay listens on.
        type: int
        default: 8102
      connect_to:
        description:
          - Name of the parent relay (an entry of O(relays)) this relay connects to. Unset (or the server's
            name) connects it to the server.
        type: str
      host_names:
        description: Extra host names or IP addresses put in the relay's listener certificate.
        type: list
        elements: str
  clients:
    description: FL client sites.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Site name (letters, digits, C(-), C(_)).
        type: str
        required: true
      org:
        description: Organisation. Defaults to O(org).
        type: str
      host:
        description:
          - Address of the client device. Validated and returned in RV(participants). Clients dial the server,
            so NVFLARE needs no client address in any kit.
        type: str
      connect_to:
        description:
          - Name of the relay (an entry of O(relays)) this client connects to. Unset (or the server's name)
            connects it to the server.
        type: str
        version_added: 0.2.0
  admins:
    description: Admin users (admin console / FLARE API identities).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: E-mail address of the user.
        type: str
        required: true
      org:
        description: Organisation. Defaults to O(org).
        type: str
      role:
        description: Admin role.
        type: str
        choices: [project_admin, org_admin, lead, member]
        default: project_admin
  connection_security:
    description:
      - Connection security of the server's fed_learn port. Unset keeps NVFLARE's default (mutual TLS).
    type: str
    choices: [clear, tls, mtls]
  cert_validity_days:
    description:
      - Validity in days of participant certificates issued from now on (server, relays, clients, admins).
        Defaults to V(365). A certificate never outlives the root CA.
      - Changing it rebuilds nothing by itself. It applies to the next certificate issued (an added
        participant, a new key, O(renew), O(rotate_ca)).
      - Before version 1.0.0 this option set the validity of a new root CA. That is now O(ca_validity_days).
    type: int
  ca_validity_days:
    description:
      - Validity in days of a newly created root CA (NVFLARE's C(root_valid_days)). Defaults to V(3650).
      - Changing it never rebuilds anything by itself. It applies to the next new root CA (a new workspace,
        or O(rotate_ca)).
    type: int
    version_added: 1.0.0
  renew:
    description:
      - Re-issue every participant certificate, with new key pairs, under the same root CA and rebuild every
        kit. RV(renewed) lists them. Always reports a change.
    type: bool
    default: false
    version_added: 1.0.0
  rotate_ca:
    description:
      - Make a new root CA (valid for O(ca_validity_days)) and re-issue every kit under it.
      - The old root CA certificate and key are kept, C(0600), under
        C(<workspace>/<project>/state/retired/<UTC time>/), never deleted. RV(retired_ca_dir) names it.
    type: bool
    default: false
    version_added: 1.0.0
  allow_readd:
    description:
      - Names removed earlier that may be added again (with a new key and kit). A removed name in the wanted
        list that is not here fails the run.
    type: list
    elements: str
    default: []
    version_added: 1.0.0
  remove:
    description:
      - Participants to remove now, even if still in the wanted list. Also confirms removals past the safety
        limit (every client, or more than 3 participants, absent from the wanted list).
      - A name already removed is no change. The server cannot be removed. A name that is no participant of the
        workspace (a typo, or one never provisioned here) fails the run before anything is written.
    type: list
    elements: str
    default: []
    version_added: 1.0.0
  lock_timeout:
    description:
      - Seconds to wait for the workspace lock held by another run, then fail naming the holder. V(0) does
        not wait.
    type: int
    default: 600
    version_added: 1.0.0
  prune_kits:
    description:
      - Delete the C(prod_NN) directories no current kit is in (no C(kits/<name>) link points into them) - the kits
        of earlier runs that later runs replaced (renewals, CA rotations, rebuilt kits) or removed. They hold old
        private keys; the module keeps them unless told to.
      - After this run's own changes, under the workspace lock. In check mode, RV(pruned) lists the directories no
        kit is in before the run (one that this run would supersede is pruned by the next run).
      - The state, the root CA, retired root CAs (C(state/retired)) and the current kits are never touched.
    type: bool
    default: false
    version_added: 1.5.0
  nvflare_version:
    description:
      - The nvflare version the control node must have, for example V(2.9.0) or V(2.4.2). The module fails when
        another version (or none) is installed, naming the venv to make (C(scripts/nvflare-venv.sh <version>))
        and C(nvflare_control_python).
    type: str
  force:
    description:
      - Rebuild every kit into a new C(prod_NN) even when nothing changed. Keys and the root CA are kept.
    type: bool
    default: false
notes:
  - Each run that builds something uses one new C(prod_NN) directory. Old ones are never deleted. Removed
    participants' private keys are deleted from them.
  - Test hook for crash tests only. With the environment variable C(EDGEFL_PROVISION_CRASH_AT) set to a commit
    step, the run kills itself there. Without the variable it does nothing.
seealso:
  - name: NVIDIA FLARE provisioning
    description: How NVFLARE provisions projects.
    link: https://nvflare.readthedocs.io/en/main/programming_guide/provisioning_system.html
"""

EXAMPLES = r"""
- name: Provision a federation from the inventory
  edgefl.nvflare.provision:
    workspace: "{{ nvflare_workspace }}"
    project_name: "{{ nvflare_project_name }}"
    server: "{{ __spec.server }}"
    relays: "{{ __spec.relays }}"
    clients: "{{ __spec.clients }}"
    admins: "{{ __spec.admins }}"
    nvflare_version: "{{ nvflare_version }}"
  vars:
    __spec: "{{ groups | edgefl.nvflare.participants(hostvars) }}"
  delegate_to: localhost
  run_once: true
  register: __provision

- name: Provision from literal input
  edgefl.nvflare.provision:
    workspace: /srv/nvflare/workspace
    project_name: edgefl
    server:
      name: server.example.com
      host_names: [192.0.2.10]
    clients:
      - name: jetson-1
        org: lab_a
      - name: jetson-2
    admins:
      - name: admin@example.com
        role: project_admin

- name: Provision a federation with a relay for the sites behind NAT
  edgefl.nvflare.provision:
    workspace: /srv/nvflare/workspace
    project_name: edgefl
    server:
      name: server.example.com
    relays:
      - name: relay-lab-a
        host: 192.0.2.20
        port: 8102
    clients:
      - name: jetson-1
        connect_to: relay-lab-a
      - name: jetson-2
        connect_to: relay-lab-a
      - name: workstation-1

- name: Provision from an existing project.yml
  edgefl.nvflare.provision:
    workspace: /srv/nvflare/workspace
    project_file: /srv/nvflare/project.yml
"""

RETURN = r"""
kits:
  description:
    - Stable path of each participant's current kit, by participant name, relays included.
    - A relay kit holds C(startup/fed_relay.json), C(client.crt)/C(client.key) (its identity),
      C(server.crt)/C(server.key) (its listener), C(rootCA.pem), C(start.sh), C(sub_start.sh), C(stop_fl.sh) and
      C(local/comm_config.json), C(local/log_config.json.default).
  returned: always
  type: dict
  sample: {"server.example.com": "/srv/nvflare/workspace/edgefl/kits/server.example.com",
           "relay-lab-a": "/srv/nvflare/workspace/edgefl/kits/relay-lab-a",
           "jetson-1": "/srv/nvflare/workspace/edgefl/kits/jetson-1"}
participants:
  description:
    - The participants, without any key material (server first, then relays, clients and admins).
    - Relays show C(default_host), C(port) and C(host_names). Relays and clients behind a relay show
      C(connect_to).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "server.example.com", "type": "server", "org": "nvidia", "fed_learn_port": 8002, "admin_port": 8003},
           {"name": "relay-lab-a", "type": "relay", "org": "nvidia", "host": "192.0.2.20", "default_host": "192.0.2.20",
            "port": 8102, "host_names": ["192.0.2.20"]},
           {"name": "jetson-1", "type": "client", "org": "lab_a", "host": "192.0.2.21", "connect_to": "relay-lab-a"}]
added:
  description: Participants new to this workspace (their key and kit are generated).
  returned: always
  type: list
  elements: str
  sample: [jetson-3]
removed:
  description:
    - Participants removed by this run (absent from the wanted list, or named in O(remove)). Their key is
      deleted from the state and from every kit copy on the control node, and their C(kits/) link removed.
  returned: always
  type: list
  elements: str
  sample: [site-3]
removed_all:
  description: Every participant ever removed from this workspace and not re-added (the server's deny list).
  returned: always
  type: list
  elements: str
  sample: [site-3]
  version_added: 1.0.0
renewed:
  description: Participants whose certificate was (or would be) re-issued by O(renew) or O(rotate_ca).
  returned: always
  type: list
  elements: str
  sample: []
  version_added: 1.0.0
rotated_ca:
  description: Whether this run made (or would make) a new root CA.
  returned: always
  type: bool
  sample: false
  version_added: 1.0.0
pruned:
  description: The C(prod_NN) directories deleted by O(prune_kits) (in check mode, those it would delete).
  returned: when O(prune_kits=true)
  type: list
  elements: str
  sample: ["prod_00", "prod_01"]
  version_added: 1.5.0
retired_ca_dir:
  description: Where O(rotate_ca) kept the old root CA certificate and key.
  returned: when O(rotate_ca) replaced an existing root CA
  type: str
  sample: /srv/nvflare/workspace/edgefl/state/retired/20271201T180000123456Z
  version_added: 1.0.0
certificates:
  description:
    - Expiry of the root CA (key C(rootCA)) and of every current participant's certificate, after this run.
      In check mode, the current ones. Participants not provisioned yet have no entry.
    - C(type) is one of C(root_ca), C(server), C(relay), C(client), C(admin). C(not_after) is UTC.
      C(days_left) is whole days from now.
  returned: always
  type: dict
  sample: {"rootCA": {"type": "root_ca", "not_after": "2036-11-29T18:00:00Z", "days_left": 3649},
           "site-1": {"type": "client", "not_after": "2027-12-01T18:00:00Z", "days_left": 364}}
  version_added: 1.0.0
changed_participants:
  description: Existing participants whose kit is (or would be) rebuilt.
  returned: always
  type: list
  elements: str
  sample: []
regenerated_keys:
  description: Existing participants that get a new key pair because their certificate content changed.
  returned: always
  type: list
  elements: str
  sample: []
reasons:
  description: Why each kit is (or would be) built.
  returned: always
  type: dict
  sample: {"jetson-3": "added", "server.example.com": "relay routes changed"}
result_dir:
  description:
    - The C(prod_NN) directory written by this run. In check mode, the one that would be written.
    - When nothing is built, the newest C(prod_NN) a current kit lives in.
  returned: always
  type: str
  sample: /srv/nvflare/workspace/edgefl/prod_01
project_dir:
  description: The project directory, C(<workspace>/<project_name>).
  returned: always
  type: str
  sample: /srv/nvflare/workspace/edgefl
state_dir:
  description: NVFLARE's state directory (root CA and participant keys; C(0700)).
  returned: always
  type: str
  sample: /srv/nvflare/workspace/edgefl/state
nvflare_version:
  description: Version of nvflare on the control node that did (or would do) the provisioning.
  returned: always
  type: str
  sample: 2.9.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgefl.nvflare.plugins.module_utils._provision_runner import (
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    ProvisionRunner,
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        required_one_of=REQUIRED_ONE_OF,
    )
    ProvisionRunner(module).execute()


if __name__ == "__main__":
    main()
