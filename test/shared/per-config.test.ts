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

  it('forgets the oldest config past 64, while its holders keep their value', () => {
    const first = sharedPerConfig('test-evict', { i: -1 }, () => ({}));
    for (let i = 0; i < 64; i++) sharedPerConfig('test-evict', { i }, () => ({}));
    expect(sharedPerConfig('test-evict', { i: -1 }, () => ({}))).not.toBe(first);
  });
});
