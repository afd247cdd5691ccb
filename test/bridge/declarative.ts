/**
 * A DB-less Kong's view of a declarative `kong.yml` (format 3.0): services with
 * nested routes, consumers, and plugins at global, service, route and consumer
 * scope (nested, or top-level with `service:`/`route:`/`consumer:` references).
 * Entities get ids like Kong gives them; plugin configs resolve the most specific
 * scope first, as plugins_iterator.lua's `lookup_cfg` does.
 */
import crypto = require('crypto');
import yaml = require('js-yaml');

export interface Service {
  id: string;
  name: string | null;
  protocol: 'http' | 'https';
  host: string;
  port: number;
  path: string | null;
  read_timeout: number;
  /** The whole entity as Kong's DAO holds it (services.lua defaults), for router.get_service and serialize. */
  entity: Record<string, unknown>;
}

export interface Route {
  id: string;
  name: string | null;
  paths: string[];
  methods: string[] | null;
  strip_path: boolean;
  preserve_host: boolean;
  service: Service;
  /** The whole entity as Kong's DAO holds it (routes.lua defaults), for router.get_route and serialize. */
  entity: Record<string, unknown>;
}

export interface Consumer {
  id: string;
  username: string | null;
  custom_id: string | null;
}

export interface PluginEntity {
  id: string;
  name: string;
  config: Record<string, unknown>;
  enabled: boolean;
  route: Route | null;
  service: Service | null;
  consumer: Consumer | null;
}

export interface DeclarativeConfig {
  services: Service[];
  routes: Route[];
  consumers: Consumer[];
  plugins: PluginEntity[];
}

type Raw = Record<string, unknown>;

const uuid = () => crypto.randomUUID();
const WS_ID = '00000000-0000-4000-8000-000000000000';
/** auto_timestamp_s: when the declarative config was loaded. */
const loadedAt = () => Math.floor(Date.now() / 1000);

/** kong/db/schema/entities/routes.lua fields with their defaults (nil fields left out, as Lua drops them). */
function routeEntity(raw: Raw, id: string, serviceId: string): Record<string, unknown> {
  const now = loadedAt();
  return {
    id, created_at: now, updated_at: now, name: raw.name ?? undefined,
    protocols: raw.protocols ?? ['http', 'https'], https_redirect_status_code: raw.https_redirect_status_code ?? 426,
    strip_path: raw.strip_path ?? true, preserve_host: raw.preserve_host ?? false,
    request_buffering: raw.request_buffering ?? true, response_buffering: raw.response_buffering ?? true,
    tags: raw.tags, service: { id: serviceId }, snis: raw.snis, sources: raw.sources, destinations: raw.destinations,
    methods: raw.methods, hosts: raw.hosts, paths: raw.paths, headers: raw.headers,
    regex_priority: raw.regex_priority ?? 0, path_handling: raw.path_handling ?? 'v0', ws_id: WS_ID,
  };
}

/** kong/db/schema/entities/services.lua fields with their defaults. */
function serviceEntity(s: Omit<Service, 'entity'>, raw: Raw): Record<string, unknown> {
  const now = loadedAt();
  return {
    id: s.id, created_at: now, updated_at: now, name: s.name ?? undefined, retries: raw.retries ?? 5,
    protocol: s.protocol, host: s.host, port: s.port, path: s.path ?? undefined,
    connect_timeout: raw.connect_timeout ?? 60000, write_timeout: raw.write_timeout ?? 60000, read_timeout: s.read_timeout,
    tags: raw.tags, client_certificate: raw.client_certificate, tls_verify: raw.tls_verify, tls_verify_depth: raw.tls_verify_depth,
    ca_certificates: raw.ca_certificates, enabled: raw.enabled ?? true, ws_id: WS_ID,
  };
}

/** Top-level keys Kong's declarative schema accepts (declarative_config.lua), the ones we use or may. */
const TOP_LEVEL_KEYS = new Set([
  '_format_version', '_transform', '_comment', '_ignore', 'services', 'routes', 'consumers', 'plugins',
  'upstreams', 'targets', 'certificates', 'ca_certificates', 'snis', 'vaults', 'consumer_groups', 'keys', 'key_sets',
]);

function parseServiceUrl(raw: Raw): Omit<Service, 'id' | 'name' | 'read_timeout' | 'entity'> {
  if (typeof raw.url === 'string') {
    const u = new URL(raw.url);
    const protocol = u.protocol.replace(':', '') as 'http' | 'https';
    return {
      protocol,
      host: u.hostname,
      port: u.port ? Number(u.port) : protocol === 'https' ? 443 : 80,
      path: u.pathname && u.pathname !== '/' ? u.pathname : null,
    };
  }
  const protocol = (raw.protocol as 'http' | 'https') ?? 'http';
  return {
    protocol,
    host: String(raw.host),
    port: Number(raw.port ?? (protocol === 'https' ? 443 : 80)),
    path: (raw.path as string) ?? null,
  };
}

export function loadDeclarative(text: string): DeclarativeConfig {
  const doc = yaml.load(text) as Raw;
  if (!doc || doc._format_version !== '3.0') throw new Error('kong.yml: _format_version must be "3.0"');
  for (const key of Object.keys(doc)) {
    if (!TOP_LEVEL_KEYS.has(key)) throw new Error(`kong.yml: unknown field "${key}"`);
  }
  const out: DeclarativeConfig = { services: [], routes: [], consumers: [], plugins: [] };
  const pending: Array<{ raw: Raw; route?: Route; service?: Service; consumer?: Consumer }> = [];

  const addRoute = (raw: Raw, service: Service) => {
    const id = (raw.id as string) ?? uuid();
    const route: Route = {
      id,
      name: (raw.name as string) ?? null,
      paths: (raw.paths as string[]) ?? [],
      methods: (raw.methods as string[]) ?? null,
      strip_path: raw.strip_path === undefined ? true : Boolean(raw.strip_path),
      preserve_host: Boolean(raw.preserve_host),
      service,
      entity: routeEntity(raw, id, service.id),
    };
    out.routes.push(route);
    for (const p of (raw.plugins as Raw[]) ?? []) pending.push({ raw: p, route });
  };

  for (const s of (doc.services as Raw[]) ?? []) {
    const protocol = parseServiceUrl(s).protocol;
    for (const tls of ['tls_verify', 'tls_verify_depth', 'ca_certificates', 'client_certificate']) {
      // services.lua entity checks: only https services take TLS settings
      if (s[tls] !== undefined && s[tls] !== null && protocol !== 'https') {
        throw new Error(`kong.yml: service "${String(s.name)}": ${tls} must be null for protocol ${protocol}`);
      }
    }
    const base = {
      id: (s.id as string) ?? uuid(),
      name: (s.name as string) ?? null,
      read_timeout: Number(s.read_timeout ?? 60000),
      ...parseServiceUrl(s),
    };
    const service: Service = { ...base, entity: serviceEntity(base, s) };
    out.services.push(service);
    for (const r of (s.routes as Raw[]) ?? []) addRoute(r, service);
    for (const p of (s.plugins as Raw[]) ?? []) pending.push({ raw: p, service });
  }
  for (const c of (doc.consumers as Raw[]) ?? []) {
    const consumer: Consumer = {
      id: (c.id as string) ?? uuid(),
      username: (c.username as string) ?? null,
      custom_id: (c.custom_id as string) ?? null,
    };
    out.consumers.push(consumer);
    for (const p of (c.plugins as Raw[]) ?? []) pending.push({ raw: p, consumer });
  }
  for (const p of (doc.plugins as Raw[]) ?? []) pending.push({ raw: p });

  const byRef = <T extends { id: string; name?: string | null; username?: string | null }>(list: T[], ref: unknown, kind: string): T => {
    const key = typeof ref === 'object' && ref !== null ? (ref as Raw).id ?? (ref as Raw).name : ref;
    const found = list.find((e) => e.id === key || e.name === key || e.username === key);
    if (!found) throw new Error(`kong.yml: plugin references unknown ${kind} "${String(key)}"`);
    return found;
  };
  for (const { raw, route, service, consumer } of pending) {
    out.plugins.push({
      id: (raw.id as string) ?? uuid(),
      name: String(raw.name),
      config: (raw.config as Raw) ?? {},
      enabled: raw.enabled === undefined ? true : Boolean(raw.enabled),
      route: route ?? (raw.route ? byRef(out.routes, raw.route, 'route') : null),
      service: service ?? (raw.service ? byRef(out.services, raw.service, 'service') : null),
      consumer: consumer ?? (raw.consumer ? byRef(out.consumers, raw.consumer, 'consumer') : null),
    });
  }
  return out;
}

/**
 * The plugin entity that applies, most specific scope first: route+service+consumer,
 * route+consumer, service+consumer, route+service, consumer, route, service, global.
 */
export function lookupPlugin(
  plugins: PluginEntity[],
  name: string,
  route: Route | null,
  service: Service | null,
  consumer: Consumer | null,
): PluginEntity | undefined {
  const candidates = plugins.filter((p) => p.name === name && p.enabled);
  const is = (p: PluginEntity, r: boolean, s: boolean, c: boolean) =>
    (r ? p.route?.id === route?.id && !!route : !p.route) &&
    (s ? p.service?.id === service?.id && !!service : !p.service) &&
    (c ? p.consumer?.id === consumer?.id && !!consumer : !p.consumer);
  const order: Array<[boolean, boolean, boolean]> = [
    [true, true, true], [true, false, true], [false, true, true], [true, true, false],
    [false, false, true], [true, false, false], [false, true, false], [false, false, false],
  ];
  for (const [r, s, c] of order) {
    const hit = candidates.find((p) => is(p, r, s, c));
    if (hit) return hit;
  }
  return undefined;
}

/** Kong's router for what our tests need: methods, prefix and `~` regex paths, longest prefix first. */
export function matchRoute(routes: Route[], method: string, path: string): { route: Route; matched: string } | null {
  let best: { route: Route; matched: string; score: number } | null = null;
  for (const route of routes) {
    if (route.methods && !route.methods.includes(method)) continue;
    for (const p of route.paths) {
      let matched: string | null = null;
      if (p.startsWith('~')) {
        const m = new RegExp(`^${p.slice(1)}`).exec(path);
        if (m) matched = m[0];
      } else if (path.startsWith(p)) {
        matched = p;
      }
      // regex paths are evaluated before prefix paths in Kong's traditional router
      const score = matched === null ? -1 : (p.startsWith('~') ? 1e6 : 0) + matched.length;
      if (matched !== null && (!best || score > best.score)) best = { route, matched, score };
    }
  }
  return best && { route: best.route, matched: best.matched };
}
