#!/usr/bin/env bash
# Runs test/e2e against a Kong installed on this host, as the compose `test` profile
# runs it against the container: the mock OpenAI upstream (with its control API) on
# loopback, Kong started by scripts/kong-host.sh with kong/kong.test.yml pointed at
# it, then jest with KONG_PROXY_URL and MOCK_OPENAI_URL. Everything it started is
# stopped on exit. Optional: never part of `npm test` or .ci/run.
#
#   KONG_BIN=/path/to/kong scripts/e2e-host-kong.sh [jest args...]   (default: test/e2e)
#
# E2E_KONG_YML and E2E_KONG_ENV choose another declarative file and settings file,
# e.g. the PDK fixture: E2E_KONG_YML=test/fixtures/kong.pdk.yml
# E2E_KONG_ENV=test/fixtures/kong.pdk.env scripts/e2e-host-kong.sh test/foundation/pdk-rpc.test.ts
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

MOCK_PORT=${MOCK_PORT:-18080}
PROXY_PORT=${PROXY_PORT:-18000}
export KONG_HOST_PREFIX=${KONG_HOST_PREFIX:-$ROOT/.kong-host}
export KONG_PROXY_LISTEN="127.0.0.1:$PROXY_PORT"
export KONG_ADMIN_LISTEN="127.0.0.1:$((PROXY_PORT + 1))"
export KONG_ADMIN_GUI_LISTEN=off KONG_STATUS_LISTEN=off KONG_ANONYMOUS_REPORTS=off
# what {vault://env/openai-api-key} gives Kong, and what the tests expect upstream
export OPENAI_API_KEY=${OPENAI_API_KEY:-sk-mock-upstream-only}
# kong.test.yml reads these from Kong's env vault too: unset, llm-rate-limit, llm-audit
# and llm-gateway refuse their configs and every request gets a 500
export LLM_REDIS_HOST=${LLM_REDIS_HOST:-127.0.0.1}
export LLM_AUDIT_KEY=${LLM_AUDIT_KEY:-hex:$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}

[ -f dist/bin/llm-pluginserver.js ] || npm run build

mock_pid=""
cleanup() {
  scripts/kong-host.sh stop >/dev/null 2>&1 || true
  [ -z "$mock_pid" ] || kill "$mock_pid" 2>/dev/null || true
}
trap cleanup EXIT

HOST=127.0.0.1 PORT=$MOCK_PORT MOCK_CONTROL=on node dist/test/mock-openai/server.js &
mock_pid=$!
scripts/kong-host.sh start "${E2E_KONG_YML:-kong/kong.test.yml}" --env "${E2E_KONG_ENV:-kong/kong.env}" --mock-openai "http://127.0.0.1:$MOCK_PORT"
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$((PROXY_PORT + 1))/status" >/dev/null 2>&1 && break
  sleep 0.2
done

KONG_PROXY_URL="http://127.0.0.1:$PROXY_PORT" MOCK_OPENAI_URL="http://127.0.0.1:$MOCK_PORT" \
  npx jest --runInBand "${@:-test/e2e}"
