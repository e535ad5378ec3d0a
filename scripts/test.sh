#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then runs
# ruff and pytest. Used by CI (.ci/run) and documented in the README.
set -euo pipefail
cd "$(dirname "$0")/.."

# promtool, prometheus and alertmanager for the rule, metrics and end-to-end tests;
# chromium and poppler-utils (pdftotext, pdftoppm) for the report's browser and PDF tests.
if ! command -v promtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null \
    || ! command -v chromium >/dev/null || ! command -v pdftotext >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager \
      chromium poppler-utils >/dev/null
  else
    echo "note: promtool/prometheus/alertmanager/chromium/pdftotext missing; install Debian's" \
         "prometheus, prometheus-alertmanager, chromium and poppler-utils packages (tests" \
         "that need them will say so)" >&2
  fi
fi

python3 -m pip install -q --disable-pip-version-check -e ".[test]"

# GitHub's published OpenAPI description and GraphQL schema, to validate fixtures.
if command -v npm >/dev/null && [ ! -d .cache/npm/node_modules/@octokit/openapi ]; then
  npm install --silent --no-audit --no-fund --prefix .cache/npm \
    @octokit/openapi @octokit/graphql-schema >/dev/null
fi

python3 -m ruff check .
python3 -m pytest "$@"
