#!/usr/bin/env bash
# Runs the gateway on a Kong installed on this host (packages, or a source build)
# instead of the container: the same kong/kong.env and a declarative file, with the
# container paths of kong.env mapped to this checkout.
#
#   scripts/kong-host.sh start [DECLARATIVE] [--mock-openai URL] [--env FILE]
#   scripts/kong-host.sh stop
#   scripts/kong-host.sh env   [DECLARATIVE] [--mock-openai URL] [--env FILE]   # print the settings
#
# DECLARATIVE defaults to kong/kong.test.yml. --mock-openai points the services that
# kong.test.yml sends to the compose host http://mock-openai:8080 at URL instead.
# --env reads another settings file of kong.env's form (e.g. a test fixture's).
#
# Environment:
#   KONG_BIN          the kong command (default: `kong` on PATH)
#   KONG_HOST_PREFIX  Kong's prefix (default: .kong-host/ in the checkout)
#   KONG_HOST_CWD     directory to start Kong from (a source build finds its
#                     opentelemetry .proto files relative to its source tree)
#   KONG_*            any setting already in the environment wins over kong/kong.env,
#                     as `docker run -e` would (e.g. KONG_PROXY_LISTEN=127.0.0.1:8000)
#
# Mapped paths: /opt/kong-llm -> this checkout (run `npm run build` first),
# /usr/local/kong -> the prefix, /usr/local/bin/node -> the node on PATH,
# /kong/declarative/<file> -> the declarative file. Logs go to <prefix>/logs/.
# As root, nginx workers run as root (nginx_user), or they cannot create the sockets.
set -euo pipefail

# bash 5.2 would expand & in the replacement of ${var//pattern/replacement}
shopt -u patsub_replacement 2>/dev/null || true

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KONG_BIN=${KONG_BIN:-kong}
PREFIX=${KONG_HOST_PREFIX:-$ROOT/.kong-host}
# Kong runs the plugin-server commands of kong.env through sh -c: a path with
# whitespace would split them
case "$ROOT$PREFIX" in *[[:space:]]*) echo "kong-host: the checkout and prefix paths must not contain whitespace" >&2; exit 1 ;; esac
MOCK_UPSTREAM_URL=http://mock-openai:8080

usage() {
  sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
declarative=$ROOT/kong/kong.test.yml
mock_url=""
env_file=$ROOT/kong/kong.env
while [ $# -gt 0 ]; do
  case "$1" in
    --mock-openai) mock_url=${2:?--mock-openai needs a URL}; shift 2 ;;
    --env) env_file=$(cd "$(dirname "${2:?--env needs a file}")" && pwd)/$(basename "$2"); [ -f "$env_file" ] || { echo "kong-host: no settings file $2" >&2; exit 1; }; shift 2 ;;
    -h|--help) usage ;;
    *) declarative=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); shift ;;
  esac
done

# The settings of kong/kong.env as this host needs them (one KEY=value per line).
host_settings() {
  local node
  node=$(command -v node) || { echo "kong-host: node is not on PATH" >&2; exit 1; }
  # DB-less from the declarative file, whatever the settings file says
  printf 'KONG_DATABASE=off\nKONG_DECLARATIVE_CONFIG=%s\n' "$PREFIX/declarative/$(basename "$declarative")"
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    local key=${line%%=*} value=${line#*=}
    value=${value//\/opt\/kong-llm/$ROOT}
    value=${value//\/usr\/local\/kong/$PREFIX}
    value=${value//\/usr\/local\/bin\/node/$node}
    case "$key" in
      KONG_DATABASE|KONG_DECLARATIVE_CONFIG) continue ;;
      KONG_PROXY_ACCESS_LOG|KONG_ADMIN_ACCESS_LOG) value=$PREFIX/logs/access.log ;;
      KONG_PROXY_ERROR_LOG|KONG_ADMIN_ERROR_LOG) value=$PREFIX/logs/error.log ;;
    esac
    printf '%s=%s\n' "$key" "$value"
  done < "$env_file"
  printf 'KONG_PREFIX=%s\n' "$PREFIX"
  [ "$(id -u)" -ne 0 ] || printf 'KONG_NGINX_USER=root root\n'
}

export_settings() {
  local key value
  while IFS= read -r line; do
    key=${line%%=*} value=${line#*=}
    # the caller's environment wins, as with docker run -e
    [ -n "${!key+x}" ] || export "$key=$value"
  done < <(host_settings)
}

prepare() {
  [ -f "$ROOT/dist/bin/llm-pluginserver.js" ] || { echo "kong-host: run \`npm run build\` first" >&2; exit 1; }
  [ -f "$declarative" ] || { echo "kong-host: no declarative file $declarative" >&2; exit 1; }
  mkdir -p "$PREFIX/declarative" "$PREFIX/logs"
  local out=$PREFIX/declarative/$(basename "$declarative")
  if [ -n "$mock_url" ]; then
    local escaped
    escaped=$(printf '%s' "$mock_url" | sed 's/[#&\\]/\\&/g')
    sed "s#$MOCK_UPSTREAM_URL#$escaped#g" "$declarative" > "$out"
  else
    cp "$declarative" "$out"
  fi
}

case "$cmd" in
  env)
    host_settings
    ;;
  start)
    command -v "$KONG_BIN" >/dev/null 2>&1 || { echo "kong-host: $KONG_BIN not found (set KONG_BIN)" >&2; exit 1; }
    prepare
    export_settings
    (cd "${KONG_HOST_CWD:-$PWD}" && "$KONG_BIN" start)
    ;;
  stop)
    command -v "$KONG_BIN" >/dev/null 2>&1 || { echo "kong-host: $KONG_BIN not found (set KONG_BIN)" >&2; exit 1; }
    "$KONG_BIN" stop -p "$PREFIX"
    ;;
  *)
    usage
    ;;
esac
