#!/usr/bin/env bash
# The sandbox: a real NVFLARE federation (1 server + 3 clients) in systemd containers on
# one podman network, deployed by site.yml, with the NumPy FedAvg example job run through
# the edgefl.nvflare.job module.
#   scripts/sandbox.sh up            (make sandbox)      build, deploy, run the job, leave it running
#   RELAYS=1 scripts/sandbox.sh up   (make sandbox RELAYS=1) the same with a relay: site-2 and site-3
#                                                         sit behind relay1 on a second network
#   CLIENTS=N scripts/sandbox.sh up  (make sandbox CLIENTS=N) N clients site-1..site-N (1-200, default 3)
#   scripts/sandbox.sh status                            the status table
#   scripts/sandbox.sh containers                        only create/start the containers (bench, tests)
#   scripts/sandbox.sh down [--purge] (make sandbox-down) remove containers + network; --purge also
#                                                         deletes the control-node workspace (root CA)
# Containers: edgefl-sbx-{server1,site-1,site-2,site-3}, network edgefl-sbx-net 10.89.50.0/24.
# CLIENTS=N (issue #15): site-K at 10.89.50.(10+K); N != 3 uses an inventory this script writes to
# .work/sandbox-fleet/ (the group_vars of inventories/sandbox, hosts for N clients). More than ~23 systemd
# containers need more inotify instances than the kernel default: scripts/setup.sh raises the limits.
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
FLEET_INV=$ROOT/.work/sandbox-fleet
running_clients() { podman ps -a --format '{{.Names}}' 2>/dev/null | grep -c '^edgefl-sbx-site-[0-9]*$' || true; }
# the number of clients: CLIENTS, else the size of the fleet sandbox that is up (its inventory), else 3
if [[ -z ${CLIENTS:-} ]]; then
  CLIENTS=3
  [[ ! -f $FLEET_INV/hosts.yml ]] || CLIENTS=$(grep -c '^    site-' "$FLEET_INV/hosts.yml")
fi
if ! [[ $CLIENTS =~ ^[0-9]+$ ]] || ((CLIENTS < 1 || CLIENTS > 200)); then
  echo "[sandbox] CLIENTS=$CLIENTS: give a number of clients from 1 to 200 (make sandbox CLIENTS=10)" >&2; exit 2
fi
if ((RELAYS && CLIENTS != 3)); then
  echo "[sandbox] RELAYS=1 has a fixed layout (3 clients): drop CLIENTS=$CLIENTS or RELAYS=1" >&2; exit 2
fi
# Twice as many forks as hosts (at most 100): with about one fork per host, ansible-core's strategy waits for the
# worker of the previous task to exit before it can start the next one on that slot (see docs/playbooks.md, "Fleets").
export ANSIBLE_FORKS=${ANSIBLE_FORKS:-$((2 * (CLIENTS + 2) < 100 ? 2 * (CLIENTS + 2) : 100))}
INVS=(-i "$INV")
if ((RELAYS)); then NODES=("${RELAY_NODES[@]}"); INVS+=(-i "$ROOT/inventories/sandbox-relay"); fi
if ((CLIENTS != 3)); then
  NODES=(server1:10.89.50.10)
  for ((k = 1; k <= CLIENTS; k++)); do NODES+=("site-$k:10.89.50.$((10 + k))"); done
  INVS=(-i "$FLEET_INV")
fi
WORKSPACE=${HOME}/.local/share/edgefl-nvflare/sandbox
((CLIENTS == 3)) || WORKSPACE+="-$CLIENTS"
# Ansible reaches the containers over SSH, like real devices: this key pair (see
# inventories/sandbox/group_vars/all.yml); the public key is root's authorized_keys.
SSH_DIR=${HOME}/.local/share/edgefl-nvflare/sandbox-ssh

log() { printf '\n[sandbox] %s\n' "$*"; }

fleet_inventory() { # write .work/sandbox-fleet/: inventories/sandbox's group_vars, N clients
  # inventories/sandbox's group_vars, then a workspace of this size's own (a 50-client root CA and kits
  # stay apart from the 3-client sandbox's: going back to 3 is not a removal of 47 clients)
  rm -rf "$FLEET_INV/group_vars" && mkdir -p "$FLEET_INV/group_vars/all"
  ln -s "$INV/group_vars/all.yml" "$FLEET_INV/group_vars/all/00-sandbox.yml"
  printf -- '---\nnvflare_workspace: %s\n' "$WORKSPACE" >"$FLEET_INV/group_vars/all/10-fleet.yml"
  local n name ip
  {
    echo "---"
    echo "# Written by scripts/sandbox.sh for CLIENTS=$CLIENTS (make sandbox CLIENTS=N); see inventories/sandbox."
    echo "nvflare_server:"
    echo "  hosts:"
    echo "    server1: {ansible_host: 10.89.50.10, nvflare_address: 10.89.50.10}"
    echo "nvflare_clients:"
    echo "  hosts:"
    for n in "${NODES[@]:1}"; do
      name=${n%%:*} ip=${n##*:}
      echo "    $name: {ansible_host: $ip, nvflare_address: $ip}"
    done
  } >"$FLEET_INV/hosts.yml.tmp"
  mv "$FLEET_INV/hosts.yml.tmp" "$FLEET_INV/hosts.yml"
}

check_limits() { # the kernel limits N systemd containers need (scripts/setup.sh raises them)
  local want=$(((CLIENTS + 2) * 8)) have
  have=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 0)
  if ((have < want)); then
    echo "[sandbox] fs.inotify.max_user_instances is $have; $CLIENTS clients need >= $want (each systemd" \
      "container takes several): run scripts/setup.sh as root (make setup), or sysctl -w" \
      "fs.inotify.max_user_instances=8192" >&2
    return 1
  fi
}

ssh_node() { # ssh_node IP CMD...
  local ip=$1; shift
  ssh -i "$SSH_DIR/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -o ConnectTimeout=2 "root@$ip" "$@"
}

containers() { # create (or start) the containers; SANDBOX_SPARE=1 adds site-(N+1) (10.89.50.(11+N))
  check_limits
  local up
  up=$(running_clients)
  if ((up > CLIENTS + ${SANDBOX_SPARE:-0})); then
    echo "[sandbox] a sandbox with $up clients is up: make sandbox-down first (or CLIENTS=$up)" >&2; return 1
  fi
  # the inventory lists the N clients only: the spare is a device add_client.yml adds (bench/bench_fleet.py)
  ((CLIENTS == 3)) || fleet_inventory
  ((${SANDBOX_SPARE:-0})) && NODES+=("site-$((CLIENTS + 1)):10.89.50.$((11 + CLIENTS))")
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
    for _ in $(seq 120); do
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
  # Each size has a workspace (root CA) of its own: containers left up by a sandbox of another size hold that
  # size's kits, which site.yml refuses to replace unless told to (docs/playbooks.md, "A host of another federation").
  local before replace=()
  before=$(running_clients)
  if ((before > 0 && before != CLIENTS)); then
    replace=(-e nvflare_replace_foreign_kit=true)
    log "the containers of a $before-client sandbox move to this $CLIENTS-client sandbox's root CA"
  fi
  containers
  log "site.yml (provision, deploy, wait for clients)"
  ansible-playbook "${INVS[@]}" site.yml "${replace[@]}"
  if ((RELAYS)); then
    log "no route from the relay's clients to the server (TCP connect to 10.89.50.10:8002 from site-2, site-3)"
    for ip in 10.89.51.12 10.89.51.13; do
      ssh_node "$ip" "python3 -c 'import socket; s = socket.socket(); s.settimeout(3); exit(s.connect_ex((\"10.89.50.10\", 8002)) == 0)'" ||
        { echo "[sandbox] $ip reaches the server directly: the edge network is not isolated" >&2; return 1; }
    done
    echo "  site-2, site-3: no route to the server"
  fi
  if ((CLIENTS < 2)); then
    # the example's meta.json has min_clients 2: NVFLARE would keep it SUBMITTED until the timeout
    log "the NumPy FedAvg example needs 2 clients (min_clients in its meta.json); no job with CLIENTS=$CLIENTS"
    return 0
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
  log "sandbox ($CLIENTS clients) up in $((SECONDS - t0)) s; it keeps running. Admin console: $WORKSPACE/admin/admin@nvidia.com/fl_admin; tear down: make sandbox-down"
}

down() {
  local names
  # every sandbox container, whatever its size or kind
  mapfile -t names < <(podman ps -a --format '{{.Names}}' | grep -E '^edgefl-sbx-(server1|relay1|site-[0-9]+)$' || true)
  ((${#names[@]} == 0)) || podman rm -f -t 5 "${names[@]}" >/dev/null
  rm -rf "$FLEET_INV"
  podman network exists "$NET" && podman network rm "$NET" >/dev/null
  podman network exists "$EDGE_NET" && podman network rm "$EDGE_NET" >/dev/null
  if [[ ${1:-} == --purge ]]; then
    local base=${WORKSPACE%-"$CLIENTS"}
    rm -rf "$base" "$base"-[0-9]* "$SSH_DIR"
    log "removed containers, network, the workspaces ${base}[-N] (root CA) and the sandbox SSH key"
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
