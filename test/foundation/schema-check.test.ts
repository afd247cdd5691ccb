/**
 * The schema check: what every plugin server dumps is a schema Kong accepts (only
 * Kong's field types and attributes, secrets referenceable and encrypted), and every
 * plugin config in kong/kong.yml and kong/kong.test.yml validates against its plugin's
 * dumped schema with defaults filled the way Kong fills them.
 */
import fs = require('fs');
import path = require('path');
import { loadDeclarative } from '../bridge/declarative';
import { checkSchemaDsl, processConfig } from '../bridge/kong-schema';
import { readKongEnv, REPO_ROOT, serverDefs } from '../bridge/kong-settings';
import { queryPluginInfo, type PluginInfo } from '../bridge/plugin-server';
import { parseBypassGuard } from '../bridge/post-function';

const KONG_DIR = path.join(REPO_ROOT, 'kong');

describe('schema check', () => {
  let infos: PluginInfo[];

  beforeAll(async () => {
    const defs = serverDefs(readKongEnv(), '/tmp/unused-prefix');
    infos = await Promise.all(defs.map(queryPluginInfo));
  });

  it('dumps exactly one plugin per server, named as the server', async () => {
    const defs = serverDefs(readKongEnv(), '/tmp/unused-prefix');
    expect(infos.map((i) => i.Name)).toEqual(defs.map((d) => d.name));
    for (const info of infos) {
      expect(info.Phases.length).toBeGreaterThan(0);
      expect(typeof info.Priority).toBe('number');
      expect(info.Schema.fields[0].config.type).toBe('record');
    }
  });

  it('accepts every dumped schema', () => {
    for (const info of infos) {
      expect({ plugin: info.Name, errors: checkSchemaDsl(info.Schema.fields[0].config.fields) }).toEqual({ plugin: info.Name, errors: [] });
    }
  });

  it('rejects a deliberately wrong schema', () => {
    const errors = checkSchemaDsl([
      { name: { type: 'text', description: 'Not a Kong type at all.' } },
      { size: { type: 'integer', between: [1, 10], default: 50, description: 'Default outside its range.' } },
      { tags: { type: 'array', description: 'Array without elements.' } },
      { mode: { type: 'string', enum: ['a', 'b'], description: 'JSON Schema keyword, not Kong DSL.' } },
      { client_secret: { type: 'string', description: 'A secret without referenceable/encrypted.' } },
      { flag: { type: 'boolean', referenceable: true, description: 'Referenceable on a boolean.' } },
      { short: { type: 'string', description: 'short' } },
      { nested: { type: 'record', fields: [{ inner: { type: 'string', fields: [], description: 'fields on a string.' } }] } },
    ]);
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringContaining('config.name: unknown type "text"'),
        expect.stringContaining('config.size(default): value should be between 1 and 10'),
        expect.stringContaining('config.tags: array needs "elements"'),
        expect.stringContaining('config.mode: unknown attribute "enum"'),
        expect.stringContaining('config.client_secret: a secret must be referenceable and encrypted'),
        expect.stringContaining('config.flag: "referenceable" is only valid on strings'),
        expect.stringContaining('config.short: description must be 10..500 characters'),
        expect.stringContaining('config.nested.inner: "fields" is not valid on a string'),
      ]),
    );
    expect(errors).toHaveLength(8);
  });

  it('fills defaults like Kong: defaults, null for optional fields, records required unless they say otherwise', () => {
    const fields = [
      { a: { type: 'string', default: 'x', description: 'Has a default value.' } },
      { b: { type: 'string', description: 'Optional, no default.' } },
      {
        r: {
          type: 'record',
          required: true,
          fields: [{ n: { type: 'integer', default: 3, description: 'Nested default value.' } }],
        },
      },
      // Kong makes a record field with `required` unset required (entity.lua make_records_required):
      // filled from its fields' defaults; only `required: false` leaves it null (a real Kong 3.10
      // refused kong.yml over a record with required fields and `required` unset)
      { unset: { type: 'record', fields: [{ m: { type: 'integer', default: 1, description: 'Nested default value.' } }] } },
      { opt: { type: 'record', required: false, fields: [{ m: { type: 'integer', required: true, description: 'Nested required value.' } }] } },
      {
        list: {
          type: 'array',
          default: [],
          elements: { type: 'record', fields: [{ k: { type: 'string', default: 'd', description: 'Element default value.' } }] },
        },
      },
    ];
    expect(processConfig(fields as never, { list: [{}] })).toEqual({
      config: { a: 'x', b: null, r: { n: 3 }, unset: { m: 1 }, opt: null, list: [{ k: 'd' }] },
      errors: [],
    });
    expect(processConfig(fields as never, { b: 5, extra: 1 }).errors).toEqual([
      'config.b: expected a string',
      'config.extra: unknown field',
    ]);
  });

  it('ignores the `$refs` member Kong leaves in every table whose vault references it resolved', () => {
    const fields = [
      { r: { type: 'record', required: true, fields: [{ key: { type: 'string', referenceable: true, description: 'May come from a vault.' } }] } },
      { list: { type: 'array', default: [], elements: { type: 'record', fields: [{ k: { type: 'string', referenceable: true, description: 'May come from a vault.' } }] } } },
    ];
    const resolved = { r: { key: 'v', $refs: { key: '{vault://env/a}' } }, list: [{ k: 'w', $refs: { k: '{vault://env/b}' } }], $refs: {} };
    expect(processConfig(fields as never, resolved).errors).toEqual([]);
  });

  it('accepts a vault reference only in a referenceable field', () => {
    const fields = [
      { key: { type: 'string', referenceable: true, description: 'May come from a vault.' } },
      { name: { type: 'string', description: 'Must be a literal value.' } },
    ];
    expect(processConfig(fields as never, { key: '{vault://env/x}' }).errors).toEqual([]);
    expect(processConfig(fields as never, { name: '{vault://env/x}' }).errors).toEqual([
      'config.name: vault references are not allowed here (field is not referenceable)',
    ]);
  });

  for (const file of ['kong.yml', 'kong.test.yml']) {
    it(`validates every plugin config in kong/${file}`, () => {
      const decl = loadDeclarative(fs.readFileSync(path.join(KONG_DIR, file), 'utf8'));
      const byName = new Map(infos.map((i) => [i.Name, i]));
      const enabled = new Set(readKongEnv().KONG_PLUGINS.split(','));
      expect(decl.plugins.length).toBeGreaterThan(0);
      for (const plugin of decl.plugins) {
        if (plugin.name === 'post-function') {
          expect(parseBypassGuard(plugin.config).required.length).toBeGreaterThan(0);
          continue;
        }
        // bundled; its chunks are checked by kong-config.test.ts (generated from kong/lua/)
        if (plugin.name === 'pre-function') continue;
        expect(enabled.has(plugin.name)).toBe(true);
        const info = byName.get(plugin.name);
        expect(info).toBeDefined();
        const { errors } = processConfig(info!.Schema.fields[0].config.fields, plugin.config);
        expect({ plugin: plugin.name, errors }).toEqual({ plugin: plugin.name, errors: [] });
      }
    });
  }
});
