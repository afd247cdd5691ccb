/**
 * Reads the plugin-server settings from kong/kong.env, the same file the Kong image
 * and docker-compose use (`KONG_PLUGINSERVER_NAMES`, `KONG_PLUGINSERVER_<X>_SOCKET`,
 * `_START_CMD`, `_QUERY_CMD`), so the bridge starts servers exactly as Kong would.
 *
 * The only change is where things live: the container's paths are mapped to this
 * checkout (PLUGIN_HOME), a private Kong prefix, and this Node binary.
 */
import fs = require('fs');
import path = require('path');

import { REPO_ROOT } from '../../scripts/repo-root';

export { REPO_ROOT };
export const KONG_ENV_FILE = path.join(REPO_ROOT, 'kong', 'kong.env');

/** Paths inside the Kong image (kong/Dockerfile) and what they are here. */
export const CONTAINER_PATHS = {
  pluginHome: '/opt/kong-llm',
  kongPrefix: '/usr/local/kong',
  node: '/usr/local/bin/node',
};

export interface PluginServerDef {
  name: string;
  socket: string;
  startCmd: string;
  queryCmd: string;
}

export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`kong.env: not KEY=VALUE: ${line}`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

export function readKongEnv(file = KONG_ENV_FILE): Record<string, string> {
  return parseEnvFile(fs.readFileSync(file, 'utf8'));
}

/** Kong's `get_server_defs` (process.lua): one definition per `pluginserver_names` entry. */
export function serverDefs(env: Record<string, string>, prefix: string): PluginServerDef[] {
  const names = (env.KONG_PLUGINSERVER_NAMES ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const local = (cmd: string) =>
    cmd
      .split(CONTAINER_PATHS.node).join(process.execPath)
      .split(CONTAINER_PATHS.pluginHome).join(REPO_ROOT)
      .split(CONTAINER_PATHS.kongPrefix).join(prefix);
  return names.map((name) => {
    const key = `KONG_PLUGINSERVER_${name.replace(/-/g, '_').toUpperCase()}`;
    const startCmd = env[`${key}_START_CMD`];
    const queryCmd = env[`${key}_QUERY_CMD`];
    if (!startCmd || !queryCmd) throw new Error(`kong.env: ${key}_START_CMD and ${key}_QUERY_CMD are required`);
    return {
      name,
      socket: local(env[`${key}_SOCKET`] ?? `${CONTAINER_PATHS.kongPrefix}/${name}.socket`),
      startCmd: local(startCmd),
      queryCmd: local(queryCmd),
    };
  });
}

/** Kong's `nginx_http_client_body_buffer_size` in bytes (nginx default 8k). */
export function bodyBufferSize(env: Record<string, string>): number {
  return parseNginxSize(env.KONG_NGINX_HTTP_CLIENT_BODY_BUFFER_SIZE ?? '8k');
}

export function parseNginxSize(s: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(s.trim());
  if (!m) throw new Error(`bad nginx size: ${s}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}
