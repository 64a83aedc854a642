#!/usr/bin/env bash
# Set up everything (virtualenv, dependencies, database, demo catalog), then start the bot:
# on Telegram when BOT_TOKEN is set (environment or .env), else in this terminal.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
.venv/bin/sourcing-bot demo
exec .venv/bin/sourcing-bot start
