#!/usr/bin/env bash
# Set up everything on a fresh machine: a virtual environment in .venv with the
# package (editable) and all its extras. Re-runs are quick: the install is
# repeated only when pyproject.toml changes. Sourced by the other scripts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "spectuner_nb: installing into .venv (first run takes a few minutes) ..."
  python -m pip install -q --upgrade pip
  # torch first, exactly pinned: the CPU wheel on disk, never a CUDA download.
  python -m pip install -q torch==2.13.0
  python -m pip install -q -e ".[dev,notebook,casa]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# Offline CASA: measures data from the casadata package, never a download.
export CASASITECONFIG="$ROOT/scripts/casasiteconfig.py"
export PYTHONHASHSEED=0
