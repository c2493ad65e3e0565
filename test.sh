#!/usr/bin/env bash
# The test command: installs what the tests need (see .ci/install-deps), then
# runs every test. Reference-model tests read ../shared/models (or
# $TABSHARD_MODELS) and skip, saying so, when it is absent.
set -euo pipefail
cd "$(dirname "$0")"
bash .ci/install-deps
go test -timeout 40m "$@" ./...
