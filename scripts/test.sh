#!/usr/bin/env bash
# Install what the tests need (the package with its test extra, Debian's chromium when missing)
# and run the whole suite: ruff format check, ruff check, mypy --strict, pytest. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -e ".[test]"

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian's chromium for the browser tests"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "error: the browser tests need Debian's chromium: run 'sudo apt-get install chromium'" >&2
        exit 1
    fi
fi

python -m ruff format --check .
python -m ruff check .
python -m mypy
python -m pytest -p no:cacheprovider "$@"
