#!/bin/sh
# The control-node steps of playbooks/upgrade.yml on the provisioning project of the old version, each safe to kill
# at any point (the next upgrade.yml run finds a state it resumes from):
#
#   upgrade_keep.sh recover PROJECT KEEP   first: undo what a killed run of the steps below left
#   upgrade_keep.sh keep    PROJECT KEEP   copy PROJECT aside to KEEP (the rollback point), complete or not at all
#   upgrade_keep.sh restore PROJECT KEEP   put KEEP back as PROJECT (the rollback), the new one aside as KEEP.failed
#   upgrade_keep.sh done    PROJECT KEEP   drop KEEP.failed once every host was rolled back too
#
# KEEP appears only by a rename once the whole copy is on disk: a copy killed half-way is only KEEP.partial, which
# recover drops (upgrade.yml resumes an upgrade while KEEP exists, and a rollback returns to it). restore renames
# PROJECT to KEEP.failed before it renames KEEP to PROJECT: a kill between the two leaves no PROJECT, and recover
# renames KEEP.failed back, so the upgrade is resumed as if the rollback had not begun. After restore, KEEP.failed
# stays until done: the hosts' rollback comes after it, and a run killed in between leaves hosts on the new version
# that nothing else would tell (the playbooks that deploy stop while KEEP.failed exists; the next upgrade.yml run
# resumes the upgrade from the old project, which is PROJECT again, and recover drops KEEP.failed).
# Prints "changed" when it changed something, then what.
set -eu

step=$1
project=$2
keep=$3
partial=$keep.partial
failed=$keep.failed

case $step in
  recover)
    said=""
    if [ ! -e "$project" ] && [ -e "$failed" ]; then
      mv -- "$failed" "$project"
      said="a rollback killed between its two renames was undone: $project is the new version's project again"
    elif [ -e "$failed" ] && [ ! -e "$keep" ]; then
      rm -rf -- "$failed"
      said="a rollback was killed before every host was rolled back: the upgrade resumes from the old version's"
      said="$said project ($project); dropped $failed"
    elif [ ! -e "$project" ] && [ -e "$keep" ]; then
      # an earlier version of this playbook removed PROJECT before it moved KEEP back: start again from the old one
      # (a copy this branch began and a kill stopped is dropped first: cp would nest the new copy inside it)
      rm -rf -- "$partial"
      cp -a -- "$keep" "$partial"
      sync
      mv -- "$partial" "$project"
      said="no project at $project, a rollback was killed half-way: copied the kept old version back"
    fi
    for left in "$partial" "$failed"; do
      if [ -e "$left" ]; then
        rm -rf -- "$left"
        said="${said:+$said; }dropped $left, which a killed run left"
      fi
    done
    if [ -n "$said" ]; then
      echo "changed"
      echo "$said"
    fi
    ;;
  keep)
    if [ -e "$keep" ]; then
      exit 0
    fi
    rm -rf -- "$partial"
    cp -a -- "$project" "$partial"
    sync
    mv -- "$partial" "$keep"
    echo "changed"
    ;;
  restore)
    if [ ! -e "$keep" ]; then
      exit 0
    fi
    rm -rf -- "$failed"
    if [ -e "$project" ]; then
      mv -- "$project" "$failed"
    fi
    mv -- "$keep" "$project"
    echo "changed"
    ;;
  done)
    if [ -e "$failed" ]; then
      rm -rf -- "$failed"
      echo "changed"
    fi
    ;;
  *)
    echo "usage: upgrade_keep.sh recover|keep|restore|done PROJECT KEEP" >&2
    exit 2
    ;;
esac
