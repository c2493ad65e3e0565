#!/usr/bin/env bash
# The test command: installs what the tests need (see .ci/install-deps), then
# runs every test. As root it runs them inside a private network namespace
# (loopback plus a veth with a default route, reaching nothing outside): the
# browser tests need it, because Chromium gathers no WebRTC candidates
# without a default route (see PLATFORM.md). Reference-model tests read
# ../shared/models (or $TABSHARD_MODELS) and skip, saying so, when absent.
set -euo pipefail
cd "$(dirname "$0")"
if [ -z "${TABSHARD_NETNS:-}" ]; then
  bash .ci/install-deps
  if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null; then
    exec unshare -n sh -c '
      ip link set lo up
      ip link add v0 type veth peer name v1
      ip addr add 10.233.0.1/24 dev v0
      ip link set v0 up; ip link set v1 up
      ip route add default dev v0
      TABSHARD_NETNS=1 GOPROXY=off exec "$0" "$@"' "$0" "$@"
  fi
  echo "test.sh: not root: running without a network namespace (browser tests skip)" >&2
fi
# -p 1: packages one at a time. The end-to-end tests run node processes and
# browsers whose WebRTC timers need the CPU; sharing 2 cores with the
# lavapipe conformance suite starved them into spurious link failures.
go test -p 1 -timeout 40m "$@" ./...
