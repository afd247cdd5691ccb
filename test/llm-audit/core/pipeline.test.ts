/**
 * The cores together, as the adapter will chain them: build → seal → queue → file sink
 * (rotating), then the files verified and searched for every planted secret.
 */
import fs = require('fs');
import os = require('os');
import path = require('path');
import { AuditChain } from '../../../plugins/llm-audit/core/chain';
import { DeliveryQueue, DELIVERY_DEFAULTS } from '../../../plugins/llm-audit/core/delivery/queue';
import { buildAuditRecord } from '../../../plugins/llm-audit/core/record';
import { FileSink } from '../../../plugins/llm-audit/core/sinks/file';
import { verifyChain } from '../../../plugins/llm-audit/core/verify';
import { FAKE } from '../../shared/redaction/fixtures';
import { schemaCheck } from './audit-schema';
import { fullInputs, serialized, settings } from './record-fixtures';

const KEY = Buffer.alloc(32, 5);

describe('audit pipeline (cores only)', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-pipeline-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes schema-valid, verifiable records in which no planted secret appears', async () => {
    // an AWS secret key is 40 base64 characters: the engine finds it after its label only
    const planted = Object.values(FAKE).map((v) => (v === FAKE.awsSecret ? `aws_secret_access_key=${v}` : v));
    const file = path.join(dir, 'audit.log');
    const sink = new FileSink({ path: file, max_bytes: 16 * 1024, keep: 50, fsync: 'never' });
    const queue = new DeliveryQueue(sink, { ...DELIVERY_DEFAULTS, batch_max_records: 7, batch_max_wait_ms: 5, spill: null });
    const chain = new AuditChain({ key: KEY, key_id: 'k1' });
    const s = settings({ capture_prompt: true, capture_answer: true, capture_max_bytes: 200 });
    for (let i = 0; i < 60; i++) {
      const secret = planted[i % planted.length];
      const headers = { authorization: `Bearer ${FAKE.openai}`, 'x-note': `see ${secret} here`, 'api-key': secret };
      const rec = buildAuditRecord(
        fullInputs({
          serialized: serialized({ request: { id: `req-${i}`, uri: '/v1/chat/completions', headers, querystring: { q: `x ${secret} y`, api_key: secret } } }),
          prompt_text: `my key is ${secret} ok`,
          answer_text: `you said ${secret}`,
        }),
        s,
      );
      queue.enqueue(JSON.stringify(chain.seal(rec)));
    }
    expect(await queue.close(5000)).toMatchObject({ queued: 60, sent: 60, dropped: 0 });

    const files = fs.readdirSync(dir).sort((a, b) => (b.length - a.length) || b.localeCompare(a)); // audit.log.N .. audit.log
    expect(files.length).toBeGreaterThan(2);
    const lines = files.flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter((l) => l !== ''));
    expect(verifyChain(lines, new Map([['k1', KEY]]))).toMatchObject({ ok: true, records: 60, verified: 60 });
    for (const l of lines) expect(schemaCheck(JSON.parse(l))).toBe(true);
    const bytes = files.map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('');
    // the secret part of each planted value; personal data too (the default policy redacts it)
    const secretParts = Object.values(FAKE).map((v) => (v === FAKE.dbUrl ? 'FAKE-s3cret-pw' : v === FAKE.pem ? 'MHcCAQEEIFAKE' : v));
    expect(secretParts.filter((v) => bytes.includes(v))).toEqual([]);
  });
});
