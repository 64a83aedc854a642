#!/usr/bin/env bash
# Set up the virtualenv with the test tools, then lint and run the whole test suite.
# Arguments go to pytest (e.g. ./test.sh -k import -x).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh dev
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
