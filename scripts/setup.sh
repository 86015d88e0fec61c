#!/usr/bin/env bash
# Set up everything edgefl.nvflare needs on a fresh Debian/Ubuntu machine (run as root):
#   - Debian packages: podman, debootstrap, qemu-user-static/binfmt-support (aarch64 tests),
#     openssh-client (Ansible reaches the sandbox containers over SSH),
#     and ShellCheck (ansible-test sanity lints the shell scripts with it)
#   - podman configured for hosts without a usable crun (runc, sane ulimits)
#   - kernel limits for a fleet sandbox (make sandbox CLIENTS=50): inotify instances/watches, raised
#     (never lowered) in /etc/sysctl.d/60-edgefl.conf
#   - the pinned control-node toolchain in .venv/ (ansible-core, nvflare, molecule, ...)
# Idempotent: a second call only checks stamps and returns in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup] %s\n' "$*" >&2; }

APT_PACKAGES=(podman debootstrap runc uidmap slirp4netns fuse-overlayfs qemu-user-static binfmt-support procps iproute2 make shellcheck openssh-client)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing Debian packages: ${missing[*]} - run this script as root (or: sudo apt-get install ${missing[*]})"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# podman: crun fails on these machines (rlimits, hybrid cgroups); runc works.
CONF_DIR=/etc/containers/containers.conf.d
CONF_FILE=$CONF_DIR/50-edgefl.conf
want_conf='# Managed by edgefl.nvflare scripts/setup.sh
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"'
if [[ ! -f $CONF_FILE ]] || [[ "$(cat "$CONF_FILE")" != "$want_conf" ]]; then
  log "configuring podman ($CONF_FILE)"
  mkdir -p "$CONF_DIR"
  printf '%s\n' "$want_conf" >"$CONF_FILE"
fi

# Each systemd container takes several inotify instances: with the kernel default (128 per user) more
# than ~23 sandbox containers never finish booting (sshd never starts). Raise, never lower.
SYSCTL_FILE=/etc/sysctl.d/60-edgefl.conf
want_sysctl=()
for kv in fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=1048576; do
  key=${kv%%=*} val=${kv##*=}
  have=$(cat "/proc/sys/${key//.//}" 2>/dev/null || echo 0)
  ((have >= val)) && val=$have
  want_sysctl+=("$key = $val")
done
want_sysctl_text=$(printf '# Managed by edgefl.nvflare scripts/setup.sh (fleet sandbox)\n'; printf '%s\n' "${want_sysctl[@]}")
if [[ $(id -u) -eq 0 ]] && [[ "$(cat "$SYSCTL_FILE" 2>/dev/null)" != "$want_sysctl_text" ]]; then
  log "raising kernel limits for a fleet sandbox ($SYSCTL_FILE)"
  printf '%s\n' "$want_sysctl_text" >"$SYSCTL_FILE"
  for kv in "${want_sysctl[@]}"; do sysctl -q -w "${kv// /}" || log "could not set ${kv// /} (a container without sysctl rights?)"; done
fi

# Python toolchain, re-installed only when requirements-dev.txt changes.
PY=${PYTHON:-python3}
stamp=.venv/.edgefl-stamp
want_stamp=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [[ ! -x .venv/bin/python ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]]; then
  log "installing the Python toolchain into .venv/ (a few minutes the first time)"
  [[ -x .venv/bin/python ]] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip wheel
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want_stamp" >"$stamp"
fi
# (not `ansible --version | head -1`: head closes the pipe early and ansible prints a BrokenPipe traceback)
log "ready: $(.venv/bin/python -c 'import importlib.metadata as m; print("ansible-core", m.version("ansible-core") + ", nvflare", m.version("nvflare"))'), $(podman --version)"
