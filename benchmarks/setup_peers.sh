#!/usr/bin/env bash
# Build the separate benchmark environment holding the reference tools (peers).
# spectuner 2.0.0 breaks on numpy >= 2.4 (np.trapz was removed), hence its own venv.
# Usage: bash benchmarks/setup_peers.sh   (creates /work/main/.venv-peers, or $PEER_VENV)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${PEER_VENV:-$here/.venv-peers}"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
# torch exactly pinned first: the CPU wheel on disk, never a CUDA download.
"$venv/bin/pip" install --quiet torch==2.13.0
"$venv/bin/pip" install --quiet "spectuner==2.0.0" "numpy<2.4" torch==2.13.0
# pyspeckit is optional: the benchmark reports it only when it imports.
"$venv/bin/pip" install --quiet pyspeckit || echo "pyspeckit did not install; skipped"
"$venv/bin/python" -c "import spectuner; print('spectuner', spectuner.__version__ if hasattr(spectuner, '__version__') else 'ok')"
