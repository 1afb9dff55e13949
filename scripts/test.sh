#!/usr/bin/env bash
# The whole test suite (README command 2; CI runs this through .ci/run).
set -euo pipefail
. "$(dirname "$0")/setup.sh"
ruff check .
python -m pytest -q -ra "$@"
