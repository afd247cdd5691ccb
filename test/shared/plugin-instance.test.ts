import { configureInstance, InvalidConfigReport } from '../../plugins/shared/plugin-instance';
import { integer, toKongFields } from '../../plugins/shared/kong-schema';

const schema = toKongFields({ n: integer({ default: 1, between: [1, 10], description: 'n' }) });

describe('configureInstance', () => {
  it('shares one state per config, normalized first', () => {
    let made = 0;
    const make = (c: { n: number }) => ({ ok: true as const, n: c.n, made: ++made });
    const a = configureInstance('t-share', schema, { n: 2 }, make, (c: { n: number }) => ({ n: c.n * 2 }));
    const b = configureInstance('t-share', schema, { n: 2 }, make, (c: { n: number }) => ({ n: c.n * 2 }));
    expect(a).toBe(b);
    expect(a).toMatchObject({ ok: true, n: 4, made: 1 });
  });

  it('is Broken with a config error\'s message, and a withheld one for anything else', () => {
    expect(configureInstance('t', schema, { n: 99 }, () => ({ ok: true as const }))).toMatchObject({ ok: false, reason: expect.stringContaining('n') });
    const other = configureInstance('t2', schema, {}, () => {
      throw new Error('failed near "secret value"');
    });
    expect(other.ok).toBe(false);
    expect(JSON.stringify(other)).not.toContain('secret value');
  });

  it('reports a broken config once per instance', async () => {
    const lines: string[] = [];
    const kong = { log: { err: async (l: string) => void lines.push(l) } } as never;
    const report = new InvalidConfigReport();
    await report.once(kong, 'p', { ok: false, reason: 'n: too big' });
    await report.once(kong, 'p', { ok: false, reason: 'n: too big' });
    expect(lines.map((l) => JSON.parse(l))).toEqual([{ plugin: 'p', event: 'invalid_config', error: 'n: too big' }]);
  });
});
