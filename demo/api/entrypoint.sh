#!/bin/sh
# Demo API entrypoint: becomes healthy after a short start-up, then serves
# (here: sleeps) until stopped. API_NEVER_HEALTHY=1 simulates a broken release.
set -e
trap 'exit 0' TERM INT
sleep 1
if [ "${API_NEVER_HEALTHY:-0}" != "1" ]; then
  touch /tmp/healthy
fi
while :; do sleep 1; done
