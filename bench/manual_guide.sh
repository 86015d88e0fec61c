#!/usr/bin/env bash
# Baseline for bench/bench_federation.py: the manual guide's steps as a plain script, no Ansible.
# Provision with the nvflare CLI on the control node, then for every container: podman cp the
# kit and the wheelhouse, apt-get python3-venv (+ ufw on the server), pip install nvflare from
# the wheelhouse, edit /etc/hosts, open the ports, write a systemd unit and start it. Hosts are
# done FORKS at a time (like Ansible's forks). Finally wait until all clients are registered.
#   [CLIENTS=N] bench/manual_guide.sh WORKDIR WHEELHOUSE
# Expects running containers edgefl-sbx-{server1,site-1..site-N} (CLIENTS=N scripts/sandbox.sh containers);
# N = CLIENTS, default 3.
set -euo pipefail
WORK=$1 WHEELS=$2
CLIENTS=${CLIENTS:-3}
SITES=()
for ((k = 1; k <= CLIENTS; k++)); do SITES+=("site-$k"); done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$ROOT/.venv/bin/python
SERVER_IP=10.89.50.10
mkdir -p "$WORK"
cat >"$WORK/project.yml" <<YML
api_version: 3
name: guide
description: manual guide baseline
participants:
  - {name: server1, type: server, org: nvidia, fed_learn_port: 8002, admin_port: 8003}
$(for site in "${SITES[@]}"; do echo "  - {name: $site, type: client, org: nvidia}"; done)
  - {name: admin@nvidia.com, type: admin, org: nvidia, role: project_admin}
builders:
  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder
    args: {template_file: [master_template.yml]}
  - path: nvflare.lighter.impl.static_file.StaticFileBuilder
    args: {config_folder: config}
  - path: nvflare.lighter.impl.cert.CertBuilder
  - path: nvflare.lighter.impl.signature.SignatureBuilder
YML
(cd "$WORK" && "$ROOT/.venv/bin/nvflare" provision -p project.yml -w ws >/dev/null)
PROD=$(find "$WORK/ws/guide" -mindepth 1 -maxdepth 1 -type d -name 'prod_*' | sort | tail -1)

setup_host() { # setup_host SITE ROLE
  local site=$1 role=$2 c=edgefl-sbx-$1 mod cfg extra=""
  podman exec "$c" bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv '"$([[ $role == server ]] && echo ufw)"' >/dev/null'
  podman exec "$c" mkdir -p /opt/nvflare /tmp/wheels
  podman cp "$WHEELS/." "$c:/tmp/wheels/"
  podman exec "$c" bash -c 'python3 -m venv /opt/nvflare/venv && /opt/nvflare/venv/bin/pip install -q --no-index --find-links /tmp/wheels nvflare==2.9.0'
  podman cp "$PROD/$site" "$c:/opt/nvflare/$site"
  if [[ $role == server ]]; then
    podman exec "$c" bash -c 'ufw allow 22/tcp >/dev/null && ufw allow 8002/tcp >/dev/null && ufw allow 8003/tcp >/dev/null && ufw --force enable >/dev/null'
    mod=nvflare.private.fed.app.server.server_train cfg=fed_server.json
  else
    podman exec "$c" bash -c "echo '$SERVER_IP server1' >> /etc/hosts"
    mod=nvflare.private.fed.app.client.client_train cfg=fed_client.json extra="uid=$site"
  fi
  podman exec "$c" bash -c "cat > /etc/systemd/system/nvflare.service <<UNIT
[Unit]
Description=NVFLARE $role $site
After=network-online.target
[Service]
WorkingDirectory=/opt/nvflare/$site
ExecStart=/opt/nvflare/venv/bin/python -u -m $mod -m /opt/nvflare/$site -s $cfg --set secure_train=true $extra org=nvidia config_folder=config
Restart=on-failure
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload && systemctl enable --now nvflare.service"
}

# FORKS hosts at a time (default 10, Ansible's forks in ansible.cfg), like Ansible's forks
FORKS=${FORKS:-10}
rc=0 running=0
for s in server1 "${SITES[@]}"; do
  if ((running >= FORKS)); then wait -n || rc=1; running=$((running - 1)); fi
  if [[ $s == server1 ]]; then setup_host "$s" server & else setup_host "$s" client & fi
  running=$((running + 1))
done
while ((running > 0)); do wait -n || rc=1; running=$((running - 1)); done
((rc == 0)) || { echo "manual guide: a host failed" >&2; exit 1; }

# The admin console on the control node dials server1: point it at the IP (the guide edits /etc/hosts).
sed -i "s/\"host\": \"server1\"/\"host\": \"$SERVER_IP\"/" "$PROD/admin@nvidia.com/startup/fed_admin.json"
"$PY" - "$PROD/admin@nvidia.com" "${SITES[@]}" <<'PYEOF'
import contextlib, io, sys, time
from nvflare.fuel.flare_api.flare_api import new_secure_session
kit, want = sys.argv[1], sorted(sys.argv[2:])
deadline = time.time() + 300 + 10 * len(want)
while time.time() < deadline:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            s = new_secure_session("admin@nvidia.com", kit, timeout=5)
            names = sorted(c.name for c in s.get_connected_client_list())
            s.close()
        if names == want:
            print("manual guide: all clients registered")
            sys.exit(0)
    except Exception:
        pass
    time.sleep(2)
sys.exit("manual guide: clients did not register")
PYEOF
