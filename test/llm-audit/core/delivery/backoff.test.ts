import { backoffDelay } from '../../../../plugins/llm-audit/core/delivery/backoff';

describe('backoffDelay', () => {
  const policy = { initial_ms: 100, max_ms: 1000 };

  it('draws uniformly below an exponentially growing cap (full jitter)', () => {
    expect([1, 2, 3, 4, 5, 60].map((n) => backoffDelay(policy, n, () => 0.999999))).toEqual([99, 199, 399, 799, 999, 999]);
    expect(backoffDelay(policy, 3, () => 0)).toBe(0);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(200);
  });

  it('stays in [0, cap) whatever the random source returns', () => {
    for (const r of [-1, 1, 2, NaN]) {
      const d = backoffDelay(policy, 2, () => r);
      expect(d >= 0 && d < 200).toBe(true);
    }
  });
});
