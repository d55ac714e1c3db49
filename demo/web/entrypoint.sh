#!/bin/sh
# Demo web entrypoint: runs until stopped.
trap 'exit 0' TERM INT
while :; do sleep 1; done
