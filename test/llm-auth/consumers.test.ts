/** ConsumerCache against a stand-in for the one PDK call it makes (Kong is the boundary). */
import { ConsumerCache } from '../../plugins/llm-auth/consumers';
import type { KongConsumer, KongPdk } from '../../plugins/shared/pdk';

const ALICE: KongConsumer = { id: '0b1e8f6c-3c2a-4f51-9d0e-6a7b8c9d0e1f', username: 'alice' };

function fakeKong(known: KongConsumer[]) {
  const calls: Array<[string, boolean | undefined]> = [];
  const kong = {
    client: {
      loadConsumer: async (id: string, byUsername?: boolean) => {
        calls.push([id, byUsername]);
        return known.find((c) => c.id === id || (byUsername && c.username === id)) ?? null;
      },
    },
  } as unknown as KongPdk;
  return { kong, calls };
}

describe('ConsumerCache', () => {
  it('loads a consumer once per TTL', async () => {
    let now = 0;
    const cache = new ConsumerCache(true, 60_000, () => now);
    const { kong, calls } = fakeKong([ALICE]);
    expect(await cache.get(kong, 'alice')).toEqual(ALICE);
    expect(await cache.get(kong, 'alice')).toEqual(ALICE);
    expect(calls).toEqual([['alice', true]]);
    now = 60_001;
    await cache.get(kong, 'alice');
    expect(calls).toHaveLength(2);
  });

  it('remembers an unknown name briefly, so a bad mapping is not a PDK call per request', async () => {
    let now = 0;
    const cache = new ConsumerCache(true, 60_000, () => now);
    const { kong, calls } = fakeKong([]);
    expect(await cache.get(kong, 'ghost')).toBeNull();
    expect(await cache.get(kong, 'ghost')).toBeNull();
    expect(calls).toHaveLength(1);
    now = 5_001;
    await cache.get(kong, 'ghost');
    expect(calls).toHaveLength(2);
  });

  it('never asks Kong for an id that is not a UUID (Kong would raise)', async () => {
    const cache = new ConsumerCache(false, 60_000);
    const { kong, calls } = fakeKong([ALICE]);
    expect(await cache.get(kong, 'alice')).toBeNull();
    expect(calls).toEqual([]);
    expect(await cache.get(kong, ALICE.id)).toEqual(ALICE);
  });
});
