/**
 * schemas/: the JSON Schemas of OpenAI request payloads and of the suite's shared
 * types compile in Ajv's strict mode, accept what the official openai SDK sends,
 * refuse broken payloads, and describe what our plugins really emit.
 */
import fs = require('fs');
import path = require('path');
import Ajv from 'ajv';
import OpenAI from 'openai';
import { REPO_ROOT } from '../bridge/kong-settings';
import { luaRoundTrip } from '../bridge/lua-values';
import { MockOpenAI } from '../mock-openai/server';
import * as errors from '../../plugins/llm-auth/core/errors';
import { openAiErrorBody } from '../../plugins/shared/openai-error';

const SCHEMAS = path.join(REPO_ROOT, 'schemas');

function loadAll(): Ajv {
  // strict, except that `required` may name members a schema leaves open (OpenAI adds them)
  const ajv = new Ajv({ strict: true, strictRequired: false, strictTypes: false, allErrors: true });
  for (const dir of ['openai', 'shared']) {
    for (const file of fs.readdirSync(path.join(SCHEMAS, dir))) {
      ajv.addSchema(JSON.parse(fs.readFileSync(path.join(SCHEMAS, dir, file), 'utf8')));
    }
  }
  return ajv;
}

const id = (name: string) => `https://kong-llm-plugins/schemas/${name}`;

describe('schemas/', () => {
  const ajv = loadAll();
  const valid = (schema: string, data: unknown) => {
    const validate = ajv.getSchema(id(schema))!;
    return validate(data) ? true : validate.errors;
  };

  it('compiles every schema in strict mode', () => {
    for (const dir of ['openai', 'shared']) {
      for (const file of fs.readdirSync(path.join(SCHEMAS, dir))) expect(ajv.getSchema(id(`${dir}/${file}`))).toBeDefined();
    }
  });

  it('accepts the request bodies the openai SDK sends', async () => {
    const mock = new MockOpenAI();
    await mock.start();
    try {
      const client = new OpenAI({ apiKey: 'sk-x', baseURL: `${mock.url}/v1`, maxRetries: 0 });
      await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'developer', content: 'Be brief.' },
          { role: 'user', content: [{ type: 'text', text: 'hi' }] },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
          { role: 'tool', tool_call_id: 'call_1', content: '42' },
        ],
        tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }],
        temperature: 0.2,
        stream: true,
        stream_options: { include_usage: true },
      }).then(async (s) => { for await (const _ of s) void _; });
      await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
      await client.responses.create({ model: 'gpt-4o-mini', input: [{ role: 'user', content: 'hello' }], instructions: 'be nice' });
      await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say this' });
      const byPath: Record<string, string> = {
        '/v1/chat/completions': 'openai/chat-completions.request.json',
        '/v1/embeddings': 'openai/embeddings.request.json',
        '/v1/responses': 'openai/responses.request.json',
        '/v1/completions': 'openai/completions.request.json',
      };
      expect(mock.requests).toHaveLength(4);
      for (const req of mock.requests) expect({ path: req.path, result: valid(byPath[req.path], req.json) }).toEqual({ path: req.path, result: true });
    } finally {
      await mock.stop();
    }
  });

  it.each([
    ['without messages', { model: 'gpt-4o' }],
    ['with no message', { model: 'gpt-4o', messages: [] }],
    ['with a user message without content', { model: 'gpt-4o', messages: [{ role: 'user' }] }],
    ['with an unknown role', { model: 'gpt-4o', messages: [{ role: 'root', content: 'x' }] }],
    ['with temperature 3', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], temperature: 3 }],
    ['with a tool message without tool_call_id', { model: 'gpt-4o', messages: [{ role: 'tool', content: 'x' }] }],
  ])('refuses a chat completion request %s', (_what, body) => {
    expect(valid('openai/chat-completions.request.json', body)).not.toBe(true);
  });

  it('describes every llm-auth rejection body', () => {
    const failures: errors.Failure[] = [
      new errors.MissingCredential(),
      new errors.MalformedCredential('The Authorization header must use the Bearer scheme.'),
      new errors.InvalidCredential('bad_signature'),
      new errors.ExpiredCredential(),
      new errors.NotYetValidCredential(),
      new errors.InsufficientScope(['openai:admin'], ['openai:admin']),
      new errors.TenantNotAllowed('acme'),
      new errors.AuthProviderUnavailable('jwks', 'timeout'),
      new errors.InternalAuthError(new Error('x')),
    ];
    for (const f of failures) {
      const body = openAiErrorBody(errors.toRejection(f, 'kong'));
      expect({ kind: f.kind, result: valid('shared/openai-error.json', body) }).toEqual({ kind: f.kind, result: true });
    }
  });

  it('describes the identity llm-auth publishes, as it arrives through Lua', () => {
    const published = { consumer: 'alice', tenant: null, credential_id: 'alice-key-1', scopes: ['openai:chat'], auth_method: 'api_key' };
    expect(valid('shared/llm-identity.json', published)).toBe(true);
    expect(valid('shared/llm-identity.json', luaRoundTrip(published))).toBe(true);
    expect(valid('shared/llm-identity.json', { ...published, auth_method: 'password' })).not.toBe(true);
  });
});
