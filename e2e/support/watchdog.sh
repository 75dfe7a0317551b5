#!/usr/bin/env bash
# Usage: watchdog.sh OWNER_PID DIR   (bash, not sh: dash's kill cannot signal a process group)
# Outlives a test process that dies without running its exit hooks (SIGKILL, an OOM kill):
# once OWNER_PID is gone it kills the process groups listed in DIR/pgids, removes the folders
# listed in DIR/dirs, then DIR itself, so not even a killed test leaves a child behind.
owner=$1
dir=$2
while kill -0 "$owner" 2>/dev/null; do sleep 1; done
if [ -f "$dir/pgids" ]; then
  while read -r pgid; do
    [ -n "$pgid" ] && kill -KILL -- "-$pgid" 2>/dev/null
  done <"$dir/pgids"
fi
if [ -f "$dir/dirs" ]; then
  while read -r path; do
    [ -n "$path" ] && rm -rf -- "$path"
  done <"$dir/dirs"
fi
rm -rf -- "$dir"
