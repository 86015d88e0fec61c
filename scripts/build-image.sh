#!/usr/bin/env bash
# Build the systemd test images from Debian's archive (no container registry needed).
#   scripts/build-image.sh [bookworm|trixie|bullseye] [amd64|arm64]   (bullseye: Python 3.9, molecule/legacy)
# Skips the build when the image already exists with the current content revision
# (label edgefl.image.revision; FORCE=1 rebuilds anyway).
# Image name: localhost/edgefl-debian:<suite>[-arm64]
# For bookworm/amd64 it also derives localhost/edgefl-debian:bookworm-nopython (every python3 package
# purged; molecule/venv bootstraps it with playbooks/bootstrap.yml), built only when missing or older.
set -euo pipefail
SUITE=${1:-bookworm}
ARCH=${2:-amd64}
TAG=$SUITE; [[ $ARCH == amd64 ]] || TAG=$SUITE-$ARCH
IMAGE=localhost/edgefl-debian:$TAG
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# systemd as PID 1, python3 for Ansible, python3-apt for the apt module, plus the
# few tools the tests use (ip, sysctl, getent, sudo); openssh-server so the sandbox is
# reached the way real devices are (SSH with pipelining).
INCLUDE=systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,procps,sudo,ca-certificates,openssh-server
# Bump when INCLUDE or the rootfs tweaks below change: older images are rebuilt.
REVISION=2
# The arm64 image (molecule/aarch64_federation's client) is built under qemu-user emulation, where every
# package costs: it leaves out openssh-server (Molecule reaches that container through podman) and
# ca-certificates (slow to configure under qemu; the client fetches nothing over TLS). Measured in
# bench/README.md ("make test").
if [[ $ARCH != amd64 ]]; then
  INCLUDE=systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,procps,sudo
  REVISION=$REVISION.arm1
fi

# Revision of the derived image without Python (bump when its recipe changes).
NOPY_REVISION=1
NOPY_IMAGE=localhost/edgefl-debian:$SUITE-nopython

# current IMAGE REVISION: true when IMAGE exists with label edgefl.image.revision=REVISION (and no FORCE)
current() {
  [[ -z ${FORCE:-} ]] && podman image exists "$1" || return 1
  local have
  have=$(podman image inspect --format '{{index .Labels "edgefl.image.revision"}}' "$1" 2>/dev/null || true)
  [[ $have == "$2" ]] && return 0
  echo "[image] $1 has revision '${have:-none}', want $2: rebuilding" >&2
  return 1
}

# The base image with every python3 package purged (dpkg only, no network): a host too old or too bare
# for Ansible modules. Its base revision is part of its label, so a rebuilt base rebuilds it.
build_nopython() {
  [[ $SUITE == bookworm && $ARCH == amd64 ]] || return 0
  local rev=$REVISION.$NOPY_REVISION start=$SECONDS name=edgefl-image-nopython-$$
  if current "$NOPY_IMAGE" "$rev"; then
    echo "[image] $NOPY_IMAGE exists (FORCE=1 to rebuild)" >&2
    return 0
  fi
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman run --name "$name" --network none --entrypoint /bin/sh "$IMAGE" -c '
    set -e
    export DEBIAN_FRONTEND=noninteractive
    pkgs=$(dpkg-query -W -f "\${Package}\n" | grep -E "^(lib)?python3" || true)
    [ -z "$pkgs" ] || apt-get purge -y -q --auto-remove $pkgs >/dev/null
    rm -rf /usr/lib/python3* /usr/local/lib/python3* /var/cache/apt/archives/*.deb
    if ls /usr/bin/python* /usr/local/bin/python* >/dev/null 2>&1; then echo "python left" >&2; exit 1; fi
  ' || { podman rm -f "$name" >/dev/null 2>&1; echo "[image] purging python3 failed" >&2; exit 1; }
  podman commit -q \
    --change 'CMD ["/sbin/init"]' --change 'ENTRYPOINT []' --change "LABEL edgefl.image.revision=$rev" \
    "$name" "$NOPY_IMAGE" >/dev/null
  podman rm -f "$name" >/dev/null
  echo "[image] built $NOPY_IMAGE in $((SECONDS - start)) s" >&2
}

# One build of an image at a time: a second caller (two makes, or a scenario's create step while a build
# runs) waits here, then finds the image built instead of debootstrapping the same rootfs again.
exec 9>"/var/tmp/edgefl-image-$TAG.lock"
if ! flock -n 9; then
  echo "[image] another build of $IMAGE is running: waiting for it" >&2
  flock 9
fi
if current "$IMAGE" "$REVISION"; then
  echo "[image] $IMAGE exists (FORCE=1 to rebuild)" >&2
  build_nopython
  exit 0
fi
if [[ $ARCH != amd64 ]]; then
  # Foreign architectures run through qemu-user-static via binfmt_misc. The handler must be
  # registered with the F (fix-binary) flag so it also works inside chroots and containers.
  qarch=$ARCH; [[ $ARCH == arm64 ]] && qarch=aarch64
  if [[ ! -e /proc/sys/fs/binfmt_misc/status ]]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || {
      echo "[image] cannot mount binfmt_misc; run scripts/setup.sh as root" >&2; exit 1; }
  fi
  if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-$qarch ]]; then
    update-binfmts --enable "qemu-$qarch" >/dev/null 2>&1 || true
  fi
  grep -q '^flags: .*F' "/proc/sys/fs/binfmt_misc/qemu-$qarch" 2>/dev/null || {
    echo "[image] binfmt handler qemu-$qarch missing or without the F flag;" \
      "install qemu-user-static and binfmt-support (scripts/setup.sh)" >&2; exit 1; }
fi
work=$(mktemp -d /var/tmp/edgefl-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
echo "[image] debootstrap $SUITE/$ARCH -> $IMAGE" >&2
extra=()
[[ $ARCH == amd64 ]] || extra=(--foreign)
debootstrap --variant=minbase --arch="$ARCH" "${extra[@]}" --include="$INCLUDE" "$SUITE" "$work/root" "$MIRROR" >"$work/log" 2>&1 || {
  tail -20 "$work/log" >&2; exit 1; }
if [[ $ARCH != amd64 ]]; then
  # second stage runs the foreign binaries through qemu-user-static (binfmt_misc)
  chroot "$work/root" /debootstrap/debootstrap --second-stage >"$work/log2" 2>&1 || {
    tail -20 "$work/log2" >&2; exit 1; }
fi
root=$work/root
# A container, not a machine: no getty, no udev settle; journald to the console too.
rm -f "$root"/etc/machine-id && : >"$root"/etc/machine-id
for u in getty@tty1.service systemd-udevd.service systemd-udev-trigger.service systemd-remount-fs.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
# Every container gets its own SSH host keys at first boot, not the image's.
if [[ -e $root/usr/sbin/sshd ]]; then
  rm -f "$root"/etc/ssh/ssh_host_*
  mkdir -p "$root/etc/systemd/system/ssh.service.d"
  printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' >"$root/etc/systemd/system/ssh.service.d/edgefl-hostkeys.conf"
fi
echo "deb $MIRROR $SUITE main" >"$root/etc/apt/sources.list"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
platform=()
[[ $ARCH == amd64 ]] || platform=(--arch "$ARCH")
tar -C "$root" -c . | podman import "${platform[@]}" \
  --change 'CMD ["/sbin/init"]' --change 'ENV container=podman' --change 'STOPSIGNAL SIGRTMIN+3' \
  --change "LABEL edgefl.image.revision=$REVISION" \
  - "$IMAGE" >/dev/null
echo "[image] built $IMAGE in $((SECONDS - start)) s" >&2
build_nopython
