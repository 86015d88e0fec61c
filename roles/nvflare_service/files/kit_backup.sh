#!/bin/sh
# Keep the installed kit of a workspace aside while an upgrade runs (edgefl.nvflare playbooks/upgrade.yml):
#   kit_backup.sh save WORKSPACE BACKUP      copy WORKSPACE/startup and WORKSPACE/local to BACKUP (replaced)
#   kit_backup.sh restore WORKSPACE BACKUP   put them back (the files the new kit added go too)
#   kit_backup.sh drop BACKUP                remove BACKUP
# Only the kit's directories: the job run folders of the workspace stay where they are. Modes and owners are
# kept (cp -a). The last output line is "changed" or "unchanged".
set -eu
usage() { echo "usage: $0 save|restore WORKSPACE BACKUP | drop BACKUP" >&2; exit 2; }
[ "$#" -ge 2 ] || usage
cmd=$1
case $cmd in
save)
  [ "$#" -eq 3 ] || usage
  ws=$2 bak=$3
  [ -d "$ws/startup" ] || { echo "no kit in $ws (no startup/)" >&2; exit 1; }
  rm -rf "$bak.part"
  mkdir -p "$bak.part"
  chmod 0700 "$bak.part"
  for d in startup local; do
    if [ -d "$ws/$d" ]; then cp -a "$ws/$d" "$bak.part/$d"; fi
  done
  rm -rf "$bak"
  mv "$bak.part" "$bak"
  echo changed
  ;;
restore)
  [ "$#" -eq 3 ] || usage
  ws=$2 bak=$3
  [ -d "$bak/startup" ] || { echo unchanged; exit 0; }
  for d in startup local; do
    rm -rf "${ws:?}/$d"
    if [ -d "$bak/$d" ]; then cp -a "$bak/$d" "$ws/$d"; fi
  done
  echo changed
  ;;
drop)
  [ "$#" -eq 2 ] || usage
  if [ -e "$2" ]; then rm -rf "$2"; echo changed; else echo unchanged; fi
  ;;
*) usage ;;
esac
