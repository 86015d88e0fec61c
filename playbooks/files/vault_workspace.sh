# shellcheck shell=bash
# The shell steps playbooks/backup.yml and playbooks/restore.yml share (sourced by their script, on the control node,
# with set -euo pipefail). Each failure prints its reason to stderr and exits the script.

# edgefl_vault_args: the vault password into the array vault_args: -e nvflare_backup_vault_password_file
# (EDGEFL_VAULT_PASSWORD_FILE), else ansible-playbook's own --vault-password-file / --vault-id (read from its command
# line, in its working directory, where relative files are read from), else Ansible's configured vault identity
# (EDGEFL_VAULT_CONFIGURED=True, vault_args stays empty). None: exit 2.
edgefl_vault_args() {
  vault_args=()
  if [[ -n $EDGEFL_VAULT_PASSWORD_FILE ]]; then
    vault_args=(--vault-password-file "$(realpath -m -- "$EDGEFL_VAULT_PASSWORD_FILE")")
  else
    local pid=$PPID i argv
    while [[ ${pid:-1} -gt 1 && -r /proc/$pid/cmdline ]]; do
      mapfile -d '' argv </proc/"$pid"/cmdline
      if [[ " ${argv[*]} " == *ansible-playbook* ]]; then
        cd "$(readlink /proc/"$pid"/cwd)" || exit 2
        for ((i = 0; i < ${#argv[@]}; i++)); do
          case ${argv[i]} in
            --vault-password-file | --vault-pass-file | --vault-id) vault_args+=("${argv[i]}" "${argv[i + 1]}") ;;
            --vault-password-file=* | --vault-pass-file=* | --vault-id=*) vault_args+=("${argv[i]}") ;;
          esac
        done
        break
      fi
      pid=$(awk '{print $4}' /proc/"$pid"/stat)
    done
  fi
  if [[ ${#vault_args[@]} == 0 && $EDGEFL_VAULT_CONFIGURED != True ]]; then
    echo "no vault password: give -e nvflare_backup_vault_password_file=<file>, or run ansible-playbook with" \
      "--vault-password-file <file> or --vault-id <id>@<file> (a prompt cannot be answered here)" >&2
    exit 2
  fi
}

# edgefl_provision_lock FILE PLAY: take the provisioning workspace lock (fd 9, what provisioning takes) within
# EDGEFL_LOCK_TIMEOUT seconds and write this run into it; else exit 75 naming the holder. The caller empties the file
# when it ends (its EXIT trap), and only after this returned: the lock is then its own.
edgefl_provision_lock() {
  exec 9>>"$1"
  if ! flock -w "$EDGEFL_LOCK_TIMEOUT" 9; then
    echo "the provisioning workspace is locked by another run: $(cat "$1"); waited $EDGEFL_LOCK_TIMEOUT s" >&2
    exit 75
  fi
  printf '{"pid": %d, "host": "%s", "user": "%s", "started": "%s", "play": "%s"}' \
    $$ "$(hostname)" "$(id -un)" "$(date -u +%FT%TZ)" "$2" >"$1"
}

# edgefl_not_a_workspace ARCHIVE NAMES...: the archive has no project EDGEFL_PROJECT; exit 2 naming what it has.
edgefl_not_a_workspace() {
  local archive=$1
  shift
  echo "$archive holds no provisioning workspace of project $EDGEFL_PROJECT (it has: $*)" >&2
  exit 2
}
