import { sharedPerConfig } from '../../plugins/shared/per-config';

describe('sharedPerConfig', () => {
  it('makes one value per kind and config, shared by every instance asking', () => {
    let made = 0;
    const make = () => ({ n: ++made });
    const a = sharedPerConfig('test-a', { x: 1, y: [1, 2] }, make);
    const b = sharedPerConfig('test-a', { x: 1, y: [1, 2] }, make);
    expect(b).toBe(a);
    expect(sharedPerConfig('test-a', { x: 2, y: [1, 2] }, make)).not.toBe(a);
    expect(sharedPerConfig('test-b', { x: 1, y: [1, 2] }, make)).not.toBe(a);
    expect(made).toBe(3);
  });

  it('treats the same config with keys in another order as the same config', () => {
    const a = sharedPerConfig('test-order', { m: { x: 1, y: 2 }, z: [1] }, () => ({}));
    expect(sharedPerConfig('test-order', { z: [1], m: { y: 2, x: 1 } }, () => ({}))).toBe(a);
  });

  it('forgets the oldest config past 64, while its holders keep their value', () => {
    const first = sharedPerConfig('test-evict', { i: -1 }, () => ({}));
    for (let i = 0; i < 64; i++) sharedPerConfig('test-evict', { i }, () => ({}));
    expect(sharedPerConfig('test-evict', { i: -1 }, () => ({}))).not.toBe(first);
  });
});
