/**
 * The files in kong/ agree with each other and with the plugins: every plugin has
 * its own plugin server with the same commands the Dockerfile's layout needs, the
 * generated files (kong/kong.test.yml, README's configuration reference) match their
 * sources, and kong.yml keeps secrets out of the file.
 */
import fs = require('fs');
import path = require('path');
import yaml = require('js-yaml');
import { loadDeclarative, matchRoute } from '../bridge/declarative';
import { CONTAINER_PATHS, parseNginxSize, readKongEnv, REPO_ROOT } from '../bridge/kong-settings';
import { pluginNames } from '../../scripts/build-plugin-dirs';
import { updateReadme } from '../../scripts/gen-config-docs';
import { demoKeys, testConfig } from '../../scripts/gen-kong-test-config';
import { POST_FUNCTION_CHUNKS, PRE_FUNCTION_CHUNKS, readLuaSources, withPostFunctions } from '../../scripts/gen-kong-lua';

const KONG = path.join(REPO_ROOT, 'kong');
const read = (f: string) => fs.readFileSync(path.join(KONG, f), 'utf8');

describe('kong/ configuration', () => {
  const env = readKongEnv();
  const plugins = pluginNames();

  it('gives every plugin its own plugin server, loaded by Kong', () => {
    const names = env.KONG_PLUGINSERVER_NAMES.split(',');
    expect(names.sort()).toEqual([...plugins].sort());
    const enabled = env.KONG_PLUGINS.split(',');
    expect(enabled[0]).toBe('bundled');
    for (const name of plugins) {
      expect(enabled).toContain(name);
      const key = `KONG_PLUGINSERVER_${name.replace(/-/g, '_').toUpperCase()}`;
      const dir = `${CONTAINER_PATHS.pluginHome}/dist/kong-plugins/${name}`;
      const server = `${CONTAINER_PATHS.node} ${CONTAINER_PATHS.pluginHome}/dist/bin/llm-pluginserver.js --plugins-directory ${dir}`;
      expect(env[`${key}_SOCKET`]).toBe(`${CONTAINER_PATHS.kongPrefix}/${name}.socket`);
      // start_cmd and socket must agree: the server listens on <prefix>/<sock-name>
      expect(env[`${key}_START_CMD`]).toBe(`${server} --kong-prefix ${CONTAINER_PATHS.kongPrefix} --sock-name ${name}.socket`);
      // Kong JSON-decodes the query output: --dump-all-plugins, never --dump-plugin-info
      expect(env[`${key}_QUERY_CMD`]).toBe(`${server} --dump-all-plugins`);
    }
  });

  it('raises the body buffer to 2 MiB, the largest body the suite accepts', () => {
    expect(parseNginxSize(env.KONG_NGINX_HTTP_CLIENT_BODY_BUFFER_SIZE)).toBe(2 * 1024 * 1024);
    // no client_max_body_size: file uploads on the admin route may be large
    expect(env.KONG_NGINX_HTTP_CLIENT_MAX_BODY_SIZE).toBeUndefined();
  });

  it('copies into the image exactly what the plugin server commands run', () => {
    const dockerfile = read('Dockerfile');
    for (const dir of ['dist/bin', 'dist/plugins', 'dist/kong-plugins', 'node_modules']) {
      expect(dockerfile).toContain(`${CONTAINER_PATHS.pluginHome}/${dir}`);
    }
    expect(dockerfile).toContain(`COPY --from=build /usr/local/bin/node ${CONTAINER_PATHS.node}`);
  });

  it('keeps the OpenAI key and API key hashes out of kong.yml (vault references)', () => {
    const text = read('kong.yml');
    expect(text).not.toMatch(/sk-[A-Za-z0-9]/);
    expect(text).not.toMatch(/sha256:[0-9a-f]{64}/);
    const decl = loadDeclarative(text);
    for (const p of decl.plugins.filter((x) => x.name === 'llm-auth')) {
      expect(p.config.openai_api_key).toBe('{vault://env/openai-api-key}');
      for (const k of p.config.api_keys as Array<{ key_hash: string }>) expect(k.key_hash).toMatch(/^\{vault:\/\/env\/llm-key-hash-[a-z-]+\}$/);
    }
  });

  it('verifies the upstream certificate of https services against the system CA bundle', () => {
    const doc = yaml.load(read('kong.yml')) as { services: Array<{ url: string; tls_verify?: boolean }> };
    const https = doc.services.filter((svc) => svc.url.startsWith('https://'));
    expect(https.length).toBeGreaterThan(0);
    for (const svc of https) expect(svc.tls_verify).toBe(true);
    expect(env.KONG_NGINX_PROXY_PROXY_SSL_TRUSTED_CERTIFICATE).toBe('/etc/ssl/certs/ca-certificates.crt');
    // without proxy_ssl_verify on, nginx never loads the trusted store
    expect(env.KONG_NGINX_PROXY_PROXY_SSL_VERIFY).toBe('on');
    expect(env.KONG_PROXY_LISTEN).toContain('8443 ssl');
  });

  it('has the routes OpenAI clients use and an admin route apart from them', () => {
    const decl = loadDeclarative(read('kong.yml'));
    const routed: Array<[string, string]> = [
      ['POST', '/v1/chat/completions'], ['POST', '/v1/completions'], ['POST', '/v1/embeddings'], ['POST', '/v1/responses'],
      ['GET', '/v1/responses/resp_1'], ['GET', '/v1/models'], ['POST', '/v1/files'], ['POST', '/checked/v1/chat/completions'],
    ];
    for (const [method, p] of routed) expect({ method, p, routed: matchRoute(decl.routes, method, p) !== null }).toEqual({ method, p, routed: true });
    const admin = decl.routes.find((r) => r.name === 'openai-admin')!;
    const adminAuth = decl.plugins.find((p) => p.name === 'llm-auth' && p.route?.id === admin.id)!;
    expect(adminAuth.config.required_scopes).toEqual(['openai:admin']);
    // consumers named by the keys exist
    const consumers = new Set(decl.consumers.map((c) => c.username));
    for (const p of decl.plugins.filter((x) => x.name === 'llm-auth')) {
      for (const k of p.config.api_keys as Array<{ consumer: string }>) expect(consumers.has(k.consumer)).toBe(true);
    }
  });

  describe('post-function blocks generated from kong/lua/*.lua (npm run gen:kong-lua)', () => {
    const yml = read('kong.yml');
    const sources = readLuaSources();
    const doc = yaml.load(yml);
    const postFunctions: Array<{ config: Record<string, string[]> }> = [];
    const walk = (o: unknown): void => {
      if (Array.isArray(o)) o.forEach(walk);
      else if (o && typeof o === 'object') {
        if ((o as { name?: unknown }).name === 'post-function') postFunctions.push(o as (typeof postFunctions)[number]);
        Object.values(o).forEach(walk);
      }
    };
    walk(doc);
    const lua = (file: string) => `${sources[file]}\n`;

    it('kong.yml is what the generator writes (no drift, no missing block)', () => {
      expect(withPostFunctions(yml, sources)).toBe(yml);
    });

    it('every post-function runs gateway-apply, the guard, usage-encoding in access, serialize-values then ratelimit-headers in header_filter, usage-capture in body_filter, gateway-log in log', () => {
      expect(postFunctions.length).toBe(3); // the openai service's, /checked's and the openai-gateway service's
      for (const p of postFunctions) {
        expect(Object.keys(p.config)).toEqual(['access', 'header_filter', 'body_filter', 'log']);
        expect(p.config.access).toHaveLength(3);
        // first: what llm-gateway decided is in kong.ctx.shared before the guard looks
        expect(p.config.access[0]).toBe(lua('gateway-apply.lua'));
        expect(p.config.access[1]).toMatch(/^-- llm-bypass-guard:/);
        expect(p.config.access[2]).toBe(lua('usage-encoding.lua'));
        // the serialize chunk in header_filter: it runs on exits too (a 429, the guard's 503)
        expect(p.config.header_filter).toEqual([lua('serialize-values.lua'), lua('ratelimit-headers.lua')]);
        expect(p.config.body_filter).toEqual([lua('usage-capture.lua')]);
        expect(p.config.log).toEqual([lua('gateway-log.lua')]);
      }
    });

    it('writes gateway-pack into a pre-function block, and refuses anything else there', () => {
      const pre = ['    plugins:', '      - name: pre-function', '        config:', '          access:', '            - |', '              -- llm-gateway-pack: old', ''].join('\n');
      const withPre = yml.replace(/\n {4}plugins:\n/, `\n${pre}`);
      const before = (yml.match(/- name: pre-function\n/g) ?? []).length; // kong.yml's own (openai-gateway)
      expect(withPre).not.toBe(yml);
      const out = withPostFunctions(withPre, sources);
      const parsed = yaml.load(out) as unknown;
      const found: Array<{ config: Record<string, string[]> }> = [];
      const walk = (o: unknown): void => {
        if (Array.isArray(o)) o.forEach(walk);
        else if (o && typeof o === 'object') {
          if ((o as { name?: unknown }).name === 'pre-function') found.push(o as (typeof found)[number]);
          Object.values(o).forEach(walk);
        }
      };
      walk(parsed);
      expect(found).toHaveLength(before + 1);
      for (const f of found) expect(f.config).toEqual({ access: [lua('gateway-pack.lua')] });
      expect(withPostFunctions(out, sources)).toBe(out);
      expect(() => withPostFunctions(out.replace('-- llm-gateway-pack:', '-- llm-bypass-guard:'), sources)).toThrow(/pre-function chunk that does not start with a marker/);
      expect(() => withPostFunctions(out.replace('        config:\n          access:\n            - |\n              -- llm-gateway-pack', '        config:\n          log:\n            - |\n              -- llm-gateway-pack'), sources)).toThrow(/pre-function `log` is not generated/);
      for (const c of PRE_FUNCTION_CHUNKS) {
        expect(withPostFunctions(out, { ...sources, [c.file]: `${sources[c.file]}\n-- drift` })).not.toBe(out);
      }
    });

    it('detects drift of any chunk, and rewrites it in every block, each guard\'s marks kept', () => {
      for (const c of POST_FUNCTION_CHUNKS) {
        const changed = { ...sources, [c.file]: `${sources[c.file]}\n-- drift` };
        const out = withPostFunctions(yml, changed);
        expect({ file: c.file, drifted: out !== yml }).toEqual({ file: c.file, drifted: true });
        expect(out.split('-- drift').length - 1).toBe(3);
        expect(out.match(/local required = \{[^}]*\}/g)).toEqual(yml.match(/local required = \{[^}]*\}/g));
      }
    });

    it('detects a missing block and writes it back', () => {
      // drop the service-level block's body_filter
      const at = yml.indexOf('          body_filter:');
      const next = yml.indexOf('\n    routes:', at);
      const missing = yml.slice(0, at) + yml.slice(next + 1);
      expect(missing).not.toBe(yml);
      expect(withPostFunctions(missing, sources)).toBe(yml);
    });

    it('refuses what it cannot regenerate: marks it cannot read, an unknown phase or chunk', () => {
      expect(() => withPostFunctions(yml.replace('"llm_guard"', "'llm_guard'"), sources)).toThrow(/double-quoted/);
      const header = '          header_filter:\n';
      expect(() => withPostFunctions(yml.replace(header, `          rewrite:\n            - |\n              -- llm-usage-capture: x\n${header}`), sources)).toThrow(/`rewrite` is not generated/);
      expect(() => withPostFunctions(yml.replace(header, `${header}            - |\n              kong.log.err("x")\n`), sources)).toThrow(/does not start with a marker/);
      const guardLine = /^ *local required = \{[^}]*\}\n/m;
      expect(() => withPostFunctions(yml.replace(guardLine, ''), sources)).toThrow(/exactly one bypass guard/);
    });
  });

  it('lets the pre-/post-function Lua require what its chunks require, and nothing else', () => {
    expect(env.KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES).toBe('cjson.safe,kong.tools.queue,resty.http');
    const sources = readLuaSources();
    // require "m", require("m"), pcall(require, "m")
    const requiresOf = (code: string) => [...new Set([...code.matchAll(/require\s*[(,]?\s*["']([^"']+)["']/g)].map((m) => m[1]))];
    const byFile = Object.fromEntries(Object.entries(sources).map(([f, code]) => [f, requiresOf(code)]).filter(([, r]) => r.length > 0));
    expect(byFile).toEqual({ 'usage-capture.lua': ['cjson.safe'], 'gateway-log.lua': ['cjson.safe', 'kong.tools.queue', 'resty.http'] });
    expect(new Set(Object.values(byFile).flat())).toEqual(new Set(env.KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES.split(',')));
  });

  it('has kong.test.yml generated from kong.yml (npm run gen:kong-test)', () => {
    expect(read('kong.test.yml')).toBe(testConfig(read('kong.yml'), demoKeys()));
  });

  it('has README\'s configuration reference generated from the schemas (npm run docs)', () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    expect(updateReadme(readme)).toBe(readme);
  });

  it('runs the gateway with kong.env in docker-compose.yml, the config mounted read-only', () => {
    const compose = yaml.load(fs.readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { env_file?: string; volumes?: string[]; profiles?: string[]; environment?: Record<string, string> }>;
    };
    expect(compose.services.kong.env_file).toBe('kong/kong.env');
    expect(compose.services.kong.volumes).toContain('./kong:/kong/declarative:ro');
    expect(compose.services.test.profiles).toEqual(['test']);
    for (const svc of ['kong', 'redis', 'mock-openai']) expect(compose.services[svc]).toBeDefined();
  });
});
