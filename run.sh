#!/usr/bin/env bash
# Set up everything (virtualenv, dependencies, database, demo catalog) and run the main job.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
exec .venv/bin/sourcing-bot demo "$@"
