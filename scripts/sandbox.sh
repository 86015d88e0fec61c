#!/usr/bin/env bash
# The sandbox: a real NVFLARE federation (1 server + 3 clients) in systemd containers on
# one podman network, deployed by site.yml, with the NumPy FedAvg example job run through
# the edgefl.nvflare.job module.
#   scripts/sandbox.sh up            (make sandbox)      build, deploy, run the job, leave it running
#   RELAYS=1 scripts/sandbox.sh up   (make sandbox RELAYS=1) the same with a relay: site-2 and site-3
#                                                         sit behind relay1 on a second network
#   scripts/sandbox.sh status                            the status table
#   scripts/sandbox.sh containers                        only create/start the containers (bench, tests)
#   scripts/sandbox.sh down [--purge] (make sandbox-down) remove containers + network; --purge also
#                                                         deletes the control-node workspace (root CA)
# Containers: edgefl-sbx-{server1,site-1,site-2,site-3}, network edgefl-sbx-net 10.89.50.0/24.
# RELAYS=1 (issue #16): edgefl-sbx-relay1 on edgefl-sbx-net (10.89.50.20) and on a second network,
# edgefl-sbx-edge-net 10.89.51.0/24; site-2 and site-3 are on that network only (10.89.51.12/.13).
# Both networks are created isolated (podman's isolate option): the host drops what one sends to
# the other, so site-2 and site-3 reach the internet through their gateway but have no route to
# the server, and reach the federation through the relay; the control node still reaches every
# container. Inventory: inventories/sandbox + inventories/sandbox-relay.
# The other commands find the mode from the containers; down removes either kind.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH ANSIBLE_CONFIG=$ROOT/ansible.cfg
INV=$ROOT/inventories/sandbox
NET=edgefl-sbx-net
SUBNET=10.89.50.0/24
EDGE_NET=edgefl-sbx-edge-net
EDGE_SUBNET=10.89.51.0/24
IMAGE=${EDGEFL_IMAGE:-localhost/edgefl-debian:bookworm}
# name:ip, matching inventories/sandbox/hosts.yml
NODES=(server1:10.89.50.10 site-1:10.89.50.11 site-2:10.89.50.12 site-3:10.89.50.13)
# with RELAYS=1, matching inventories/sandbox-relay/hosts.yml: relay1 on both networks, its
# clients on the edge network only (name:ip[,ip]: relay1 has one address on each network)
# shellcheck disable=SC2054
RELAY_NODES=(server1:10.89.50.10 site-1:10.89.50.11 relay1:10.89.50.20,10.89.51.20
  site-2:10.89.51.12 site-3:10.89.51.13)
if [[ -z ${RELAYS:-} ]] && podman container exists edgefl-sbx-relay1 2>/dev/null; then RELAYS=1; fi
RELAYS=${RELAYS:-0}
INVS=(-i "$INV")
if ((RELAYS)); then NODES=("${RELAY_NODES[@]}"); INVS+=(-i "$ROOT/inventories/sandbox-relay"); fi
WORKSPACE=${HOME}/.local/share/edgefl-nvflare/sandbox
# Ansible reaches the containers over SSH, like real devices: this key pair (see
# inventories/sandbox/group_vars/all.yml); the public key is root's authorized_keys.
SSH_DIR=${HOME}/.local/share/edgefl-nvflare/sandbox-ssh

log() { printf '\n[sandbox] %s\n' "$*"; }

ssh_node() { # ssh_node IP CMD...
  local ip=$1; shift
  ssh -i "$SSH_DIR/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -o ConnectTimeout=2 "root@$ip" "$@"
}

containers() { # create (or start) the containers; SANDBOX_SPARE=1 adds site-4 (10.89.50.14)
  ((${SANDBOX_SPARE:-0})) && NODES+=(site-4:10.89.50.14)
  local isolate=()
  ((RELAYS)) && isolate=(--opt isolate=true)
  if ! podman network exists "$NET"; then
    log "network $NET ($SUBNET)"; podman network create "${isolate[@]}" --subnet "$SUBNET" "$NET" >/dev/null
  fi
  # a sandbox of the other kind must go first: its containers sit on other networks
  if ((RELAYS)) && podman container exists edgefl-sbx-site-2 && ! podman container exists edgefl-sbx-relay1; then
    echo "[sandbox] a sandbox without relays is up: make sandbox-down first" >&2; return 1
  fi
  if ! ((RELAYS)) && podman container exists edgefl-sbx-relay1; then
    echo "[sandbox] a sandbox with relays is up: make sandbox-down first" >&2; return 1
  fi
  if ((RELAYS)) && [[ $(podman network inspect -f '{{.Options.isolate}}' "$NET") != true ]]; then
    echo "[sandbox] $NET exists without isolation from $EDGE_NET: make sandbox-down first" >&2; return 1
  fi
  if ((RELAYS)) && ! podman network exists "$EDGE_NET"; then
    log "network $EDGE_NET ($EDGE_SUBNET, isolated from $NET)"
    podman network create "${isolate[@]}" --subnet "$EDGE_SUBNET" "$EDGE_NET" >/dev/null
  fi
  local n name ip nets i
  if [[ ! -f $SSH_DIR/id_ed25519 ]]; then
    mkdir -p "$SSH_DIR" && chmod 0700 "$SSH_DIR"
    ssh-keygen -q -t ed25519 -N '' -C edgefl-sandbox -f "$SSH_DIR/id_ed25519"
  fi
  for n in "${NODES[@]}"; do
    name=${n%%:*} ip=${n##*:}
    if podman container exists "edgefl-sbx-$name"; then
      podman start "edgefl-sbx-$name" >/dev/null
    else
      nets=()
      for i in ${ip//,/ }; do # --network NET:ip=IP for each of its addresses
        if [[ $i == 10.89.51.* ]]; then nets+=(--network "$EDGE_NET:ip=$i"); else nets+=(--network "$NET:ip=$i"); fi
      done
      podman run -d --name "edgefl-sbx-$name" --hostname "$name" "${nets[@]}" \
        --cap-add NET_ADMIN --cap-add NET_RAW \
        -v "$SSH_DIR/id_ed25519.pub:/root/.ssh/authorized_keys:ro" "$IMAGE" /sbin/init >/dev/null
    fi
    echo "  edgefl-sbx-$name  $ip"
  done
  for n in "${NODES[@]}"; do # systemd and sshd must be up before Ansible talks to them
    name=${n%%:*} ip=${n##*:} ip=${ip%%,*}
    for _ in $(seq 60); do
      st=$(podman exec "edgefl-sbx-$name" systemctl is-system-running 2>/dev/null || true)
      [[ $st == running || $st == degraded ]] && break; sleep 1
    done
    for _ in $(seq 30); do
      ssh_node "$ip" true 2>/dev/null && continue 2
      sleep 1
    done
    echo "[sandbox] no SSH to edgefl-sbx-$name ($ip) after 30 s; is the image current? (scripts/build-image.sh)" >&2
    return 1
  done
}

up() {
  local t0=$SECONDS
  [[ -x .venv/bin/ansible-playbook ]] || { log "setting up the tooling"; scripts/setup.sh; }
  log "test image"; scripts/build-image.sh
  containers
  log "site.yml (provision, deploy, wait for clients)"
  ansible-playbook "${INVS[@]}" site.yml
  if ((RELAYS)); then
    log "no route from the relay's clients to the server (TCP connect to 10.89.50.10:8002 from site-2, site-3)"
    for ip in 10.89.51.12 10.89.51.13; do
      ssh_node "$ip" "python3 -c 'import socket; s = socket.socket(); s.settimeout(3); exit(s.connect_ex((\"10.89.50.10\", 8002)) == 0)'" ||
        { echo "[sandbox] $ip reaches the server directly: the edge network is not isolated" >&2; return 1; }
    done
    echo "  site-2, site-3: no route to the server"
  fi
  log "NumPy FedAvg job through edgefl.nvflare.job"
  ansible-playbook "${INVS[@]}" playbooks/submit_job.yml
  local model
  model=$(find "$WORKSPACE/results" -path '*/workspace/models/server.npy' -printf '%T@ %p\n' 2>/dev/null |
    sort -rn | head -1 | cut -d' ' -f2- || true)
  if [[ -n $model ]]; then
    log "global model ($model)"
    python -c 'import sys, numpy; print(numpy.load(sys.argv[1], allow_pickle=True))' "$model"
  fi
  log "status"; ansible-playbook "${INVS[@]}" playbooks/status.yml
  log "sandbox up in $((SECONDS - t0)) s; it keeps running. Admin console: $WORKSPACE/admin/admin@nvidia.com/fl_admin; tear down: make sandbox-down"
}

down() {
  local n
  for n in server1 site-1 site-2 site-3 site-4 relay1; do podman rm -f -t 5 "edgefl-sbx-$n" >/dev/null 2>&1 || true; done
  podman network exists "$NET" && podman network rm "$NET" >/dev/null
  podman network exists "$EDGE_NET" && podman network rm "$EDGE_NET" >/dev/null
  if [[ ${1:-} == --purge ]]; then
    rm -rf "$WORKSPACE" "$SSH_DIR"; log "removed containers, network, $WORKSPACE (root CA) and the sandbox SSH key"
  else
    log "removed containers and network; the control-node workspace (root CA, kits) stays in $WORKSPACE (down --purge removes it)"
  fi
}

case ${1:-} in
  up) up ;;
  containers) containers ;;
  down) shift; down "$@" ;;
  status) ansible-playbook "${INVS[@]}" playbooks/status.yml ;;
  *) echo "usage: $0 up|status|down [--purge]" >&2; exit 2 ;;
esac
