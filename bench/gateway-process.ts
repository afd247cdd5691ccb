/**
 * Child process of the benches (harness.ts startGateway): the bridge and its plugin
 * servers in front of the mock upstream, from the kong.yml given as argument. Tells
 * the parent its URL, then runs until the parent disconnects. On request it reports
 * the PDK calls of the last requests (the bridge's traces live here, not in the parent).
 */
import { KongBridge } from '../test/bridge/gateway';
import { MockOpenAI } from '../test/mock-openai/server';
import type { PdkCallSummary } from './harness';

/** Per plugin, the PDK calls of the last `last` requests: per phase per request, and the last request's list. */
async function pdkCalls(bridge: KongBridge, last: number): Promise<PdkCallSummary> {
  // log phases run after the answer is sent: theirs are counted once they are done
  await bridge.drainLogPhase();
  // llm-gateway's records reach its ingest through Kong's queue (the bridge's model)
  await bridge.drainIngestQueue(30_000).catch(() => undefined);
  const traces = bridge.traces.slice(-last);
  const summary: PdkCallSummary = { requests: traces.length, plugins: {}, events: {} };
  for (const t of traces) {
    for (const e of t.events) {
      const p = (summary.events[e.plugin] ??= {});
      p[e.phase] = (p[e.phase] ?? 0) + 1 / traces.length;
    }
    for (const c of t.pdkCalls) {
      const p = (summary.plugins[c.plugin] ??= { perPhase: {}, lastRequest: [] });
      p.perPhase[c.phase] = (p.perPhase[c.phase] ?? 0) + 1 / traces.length;
    }
  }
  for (const c of traces.at(-1)?.pdkCalls ?? []) summary.plugins[c.plugin]?.lastRequest.push(`${c.phase}:${c.method}`);
  return summary;
}

async function serve(kongYml: string): Promise<void> {
  const mock = new MockOpenAI();
  await mock.start();
  const bridge = await KongBridge.start({
    kongYml,
    serviceUrls: { openai: mock.url },
    env: { OPENAI_API_KEY: 'sk-bench-upstream' },
  });
  const stop = async () => {
    await bridge.stop();
    await mock.stop();
    process.exit(0);
  };
  process.on('disconnect', () => void stop());
  process.on('message', (m: { pdkCalls?: number }) => {
    if (typeof m?.pdkCalls === 'number') void pdkCalls(bridge, m.pdkCalls).then((summary) => process.send!({ summary }));
  });
  process.send!({ url: bridge.url });
}

serve(process.argv[2]).catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
