#!/usr/bin/env bash
# Install what the tests need (the package with its test extra; Debian's chromium, postgresql
# and redis-server when missing) and run the whole suite: ruff format check, ruff check,
# mypy --strict, pytest on SQLite, then pytest on PostgreSQL and Redis for the files
# tests/postgresql_files.txt lists. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -e ".[test]"

# Debian's packages the suite runs for real: chromium for the browser tests, and a PostgreSQL
# server and redis-server for the scale-out tests (each started throwaway on loopback).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian's ${missing[*]} for the tests"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "error: the tests need Debian's ${missing[*]}: run 'sudo apt-get install ${missing[*]}'" >&2
        exit 1
    fi
fi

python -m ruff format --check .
python -m ruff check .
python -m mypy
python -m pytest -p no:cacheprovider "$@"
# The same tests again with every server on a fresh PostgreSQL database and Redis, for the files
# tests/postgresql_files.txt lists (it says which and why the others are not there).
mapfile -t postgresql_files < <(grep -v -e '^#' -e '^$' tests/postgresql_files.txt)
TEST_ENGINES=postgresql python -m pytest -p no:cacheprovider "$@" "${postgresql_files[@]}"
