/**
 * The delivery queue and the real HTTP sink against a local server that is down (503)
 * for a while and then back: every record arrives exactly once, in order.
 */
import fs = require('fs');
import os = require('os');
import path = require('path');
import { DeliveryQueue, DELIVERY_DEFAULTS } from '../../../../plugins/llm-audit/core/delivery/queue';
import { HttpSink } from '../../../../plugins/llm-audit/core/sinks/http';
import { Recorder } from '../sinks/recorder';
import { line, until } from './test-sink';

describe('DeliveryQueue with HttpSink through an outage', () => {
  const srv = new Recorder();
  let dir: string;
  beforeAll(() => srv.start());
  afterAll(() => srv.stop());
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-outage-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('delivers every record exactly once and in order once the destination is back', async () => {
    let down = true;
    /** Bodies the server accepted (200), in arrival order; a 503 delivers nothing. */
    const accepted: string[] = [];
    srv.answer = (req) => {
      if (down) return { status: 503, body: 'busy' };
      accepted.push(req.body);
      return { status: 200, body: '{}' };
    };
    const sink = new HttpSink({ url: `${srv.url}/logs`, preset: 'json_array', timeout_ms: 1000 });
    const q = new DeliveryQueue(sink, {
      ...DELIVERY_DEFAULTS,
      batch_max_records: 40,
      batch_max_wait_ms: 10,
      retry_initial_ms: 5,
      retry_max_ms: 50,
      attempts_before_spill: 2,
      spill: { dir, max_bytes: 1 << 20, segment_bytes: 8 * 1024 },
    });
    const N = 1000;
    for (let i = 0; i < N; i++) {
      q.enqueue(line(i));
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 2));
      if (i === 600) {
        await until(() => q.counters().spilled > 0);
        down = false;
      }
    }
    await until(() => q.counters().sent + q.counters().replayed === N);
    const counters = await q.close(2000);
    const delivered = accepted.flatMap((body) => (JSON.parse(body) as { i: number }[]).map((r) => r.i));
    expect(delivered).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(srv.requests.length).toBeGreaterThan(accepted.length); // the outage was seen
    expect(counters).toMatchObject({ queued: N, dropped: 0, memory_depth: 0, spill_depth: 0 });
    expect(counters.spilled).toBeGreaterThan(0);
    expect(counters.retried).toBeGreaterThan(0);
  });
});
