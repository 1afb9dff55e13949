#!/usr/bin/env bash
# The whole test suite (README command 2; CI runs this through .ci/run):
# lint, unit tests, notebooks (executed), the Sphinx docs build and the
# real-browser widget tests. Extra arguments go to pytest.
set -euo pipefail
. "$(dirname "$0")/setup.sh"

# Browser tests drive Debian's chromium (never a Playwright browser download).
# Installed once; skipped when already present or when we cannot use apt.
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "spectuner_nb: installing chromium for the browser tests (about a minute) ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "spectuner_nb: chromium missing and apt-get unavailable: browser tests will skip" >&2
  fi
fi

ruff check .
ruff format --check .
python -m pytest -q -ra "$@"
