/**
 * Child process of the benches (harness.ts startGateway): the bridge and its plugin
 * servers in front of the mock upstream, from the kong.yml given as argument. Tells
 * the parent its URL, then runs until the parent disconnects.
 */
import { KongBridge } from '../test/bridge/gateway';
import { MockOpenAI } from '../test/mock-openai/server';

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
  process.send!({ url: bridge.url });
}

serve(process.argv[2]).catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
