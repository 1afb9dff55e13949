#!/usr/bin/env bash
# Main job on the built-in example (README command 1).
set -euo pipefail
. "$(dirname "$0")/setup.sh"
spectuner-nb example "$@"
