import {
  compileRedactionPolicy,
  DEFAULT_ACTIONS,
  BUILTIN_TYPES,
  RedactionConfigError,
  scanText,
  type Action,
  type BuiltinEntityType,
} from '../../../plugins/shared/redaction';
import { FAKE } from './fixtures';

const allActions = (action: Action) =>
  Object.fromEntries(BUILTIN_TYPES.map((t) => [t, action])) as Record<BuiltinEntityType, Action>;

describe('DEFAULT_ACTIONS', () => {
  it('redacts every built-in type by default', () => {
    expect(Object.keys(DEFAULT_ACTIONS).sort()).toEqual([...BUILTIN_TYPES].sort());
    expect(new Set(Object.values(DEFAULT_ACTIONS))).toEqual(new Set(['redact']));
  });
});

describe('RedactionSession placeholders', () => {
  const policy = compileRedactionPolicy({});

  it('gives the same value the same placeholder across calls of one session', () => {
    const s = policy.newSession();
    const a = s.redact(`mail ${FAKE.email} and bob@example.org, again ${FAKE.email}`);
    const b = s.redact(`system prompt: contact ${FAKE.email}; card ${FAKE.card}`);
    expect(a).toEqual({ text: 'mail [EMAIL_1] and [EMAIL_2], again [EMAIL_1]', changed: true });
    expect(b.text).toBe('system prompt: contact [EMAIL_1]; card [PAYMENT_CARD_1]');
    expect(s.placeholderCount).toBe(3);
  });

  it('numbers afresh in a new session', () => {
    const s1 = policy.newSession();
    s1.redact('x@example.com');
    const s2 = policy.newSession();
    expect(s2.redact('y@example.com').text).toBe('[EMAIL_1]');
  });

  it('restores its placeholders into an answer and leaves others alone', () => {
    const s = policy.newSession();
    const prompt = `Write to ${FAKE.email} using key ${FAKE.openai}`;
    const { text } = s.redact(prompt);
    expect(s.restore(text)).toBe(prompt);
    expect(s.restore('Dear [EMAIL_1], your key [OPENAI_KEY_1] and [EMAIL_7] [email_1]')).toBe(
      `Dear ${FAKE.email}, your key ${FAKE.openai} and [EMAIL_7] [email_1]`,
    );
  });

  it('never hands out a placeholder that already appears literally in the input', () => {
    const s = policy.newSession();
    const input = `literal [EMAIL_1] then ${FAKE.email}`;
    const { text } = s.redact(input);
    expect(text).toBe('literal [EMAIL_1] then [EMAIL_2]');
    expect(s.restore(text)).toBe(input);
  });

  it('reports unchanged text when nothing is found', () => {
    const s = policy.newSession();
    expect(s.redact('nothing to see, version 1.2.3.4.5')).toEqual({ text: 'nothing to see, version 1.2.3.4.5', changed: false });
    expect(s.redact('')).toEqual({ text: '', changed: false });
    expect(s.findings()).toEqual({});
  });
});

describe('actions', () => {
  it('masks each type in its documented format', () => {
    const s = compileRedactionPolicy({ actions: allActions('mask') }).newSession();
    const cases: [string, string][] = [
      [FAKE.email, 'j***@example.com'],
      [FAKE.card, '************4242'],
      ['3782 822463 10005', '***********0005'],
      [FAKE.iban, 'DE****************3000'],
      [FAKE.ssn, '***-**-6789'],
      [FAKE.phone, '+* (***) ***-**71'],
      [FAKE.ipv4, '203.*.*.*'],
      [FAKE.ipv6, '2001:****'],
      [FAKE.openai, 'sk-proj-****FAKE'],
      [FAKE.github, 'ghp_****0000'],
      [FAKE.awsAccess, 'AKIA****'],
      [FAKE.stripe, 'sk_live_****FAKE'],
      [FAKE.google, 'AIza****5678'],
      [FAKE.jwt, 'eyJ****Rs8U'.replace('Rs8U', FAKE.jwt.slice(-4))],
      [FAKE.pem, '-----BEGIN EC PRIVATE KEY-----****-----END EC PRIVATE KEY-----'],
    ];
    for (const [value, masked] of cases) expect([value, s.redact(` ${value} `).text]).toEqual([value, ` ${masked} `]);
    expect(s.redact(FAKE.dbUrl).text).toBe('postgres://app:****@db.internal:5432/prod');
    expect(s.redact(`aws_secret_access_key=${FAKE.awsSecret}`).text).toBe('aws_secret_access_key=****');
    expect(s.placeholderCount).toBe(0);
  });

  it('blocks: names the blocked types, still redacts the text', () => {
    const s = compileRedactionPolicy({ actions: { openai_key: 'block', pem_private_key: 'block' } }).newSession();
    const r = s.redact(`key ${FAKE.openai} from ${FAKE.email}`);
    expect([...s.blocked]).toEqual(['openai_key']);
    expect(r.text).toBe('key [OPENAI_KEY_1] from [EMAIL_1]');
    expect(s.findings()).toEqual({ openai_key: 1, email: 1 });
  });

  it('allows: leaves the text, still counts the finding', () => {
    const s = compileRedactionPolicy({ actions: { ipv4: 'allow', email: 'allow' } }).newSession();
    const text = `from ${FAKE.ipv4} by ${FAKE.email}`;
    expect(s.redact(text)).toEqual({ text, changed: false });
    expect(s.findings()).toEqual({ ipv4: 1, email: 1 });
    expect(s.blocked.size).toBe(0);
  });

  it('counts findings by type with numbers only, never text', () => {
    const s = compileRedactionPolicy({ actions: { email: 'mask', ipv4: 'allow', us_ssn: 'block' } }).newSession();
    const values = Object.values(FAKE);
    s.redact(values.map((v) => (v === FAKE.awsSecret ? `aws_secret_access_key=${v}` : v)).join('\n'));
    s.redact(`${FAKE.email} ${FAKE.email}`);
    const findings = s.findings();
    expect(findings.email).toBe(3);
    expect(Object.keys(findings).sort()).toEqual([...BUILTIN_TYPES].sort());
    for (const v of Object.values(findings)) expect(typeof v).toBe('number');
    const serialized = JSON.stringify(findings);
    for (const v of values) expect(serialized).not.toContain(v.slice(0, 8));
  });
});

describe('custom patterns', () => {
  it('detects with RE2 syntax as custom:<name> with its own action and placeholder label', () => {
    const policy = compileRedactionPolicy({
      custom_patterns: [
        { name: 'employee-id', pattern: '(?i)emp-[0-9]{6}', action: 'redact' },
        { name: 'project', pattern: 'Project [A-Z][a-z]+', action: 'block' },
      ],
    });
    expect(policy.types).toContain('custom:employee-id');
    expect(policy.actionFor('custom:project')).toBe('block');
    const s = policy.newSession();
    expect(s.redact('emp-123456 and EMP-654321 on Project Falcon').text).toBe(
      '[CUSTOM_EMPLOYEE_ID_1] and [CUSTOM_EMPLOYEE_ID_2] on [CUSTOM_PROJECT_1]',
    );
    expect([...s.blocked]).toEqual(['custom:project']);
  });

  it('rejects an invalid pattern naming it, never echoing the pattern', () => {
    const secretish = 'sk-live-(unclosed';
    let err: unknown;
    try {
      compileRedactionPolicy({ custom_patterns: [{ name: 'mine', pattern: secretish, action: 'redact' }] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RedactionConfigError);
    expect((err as Error).message).toContain('mine');
    expect((err as Error).message).not.toContain('sk-live');
    // Lookbehind is not RE2: rejected, not silently run by a backtracking engine.
    expect(() => compileRedactionPolicy({ custom_patterns: [{ name: 'lb', pattern: '(?<=a)b', action: 'redact' }] })).toThrow(/lb/);
  });

  it('rejects bad names, duplicates, actions and unknown types', () => {
    const bad = (config: Parameters<typeof compileRedactionPolicy>[0]) => () => compileRedactionPolicy(config);
    expect(bad({ custom_patterns: [{ name: 'has space', pattern: 'x', action: 'redact' }] })).toThrow(RedactionConfigError);
    expect(
      bad({
        custom_patterns: [
          { name: 'a', pattern: 'x', action: 'redact' },
          { name: 'a', pattern: 'y', action: 'redact' },
        ],
      }),
    ).toThrow(/duplicate name a/);
    expect(bad({ custom_patterns: [{ name: 'a', pattern: 'x', action: 'drop' as Action }] })).toThrow(/action/);
    expect(bad({ custom_patterns: [{ name: 'a', pattern: '', action: 'redact' }] })).toThrow(/pattern/);
    expect(bad({ actions: { passport: 'redact' } as never })).toThrow(/unknown entity type passport/);
    expect(bad({ actions: { email: 'hide' as Action } })).toThrow(/actions.email/);
  });

  it('skips empty matches', () => {
    const s = compileRedactionPolicy({ custom_patterns: [{ name: 'opt', pattern: 'x*', action: 'redact' }] }).newSession();
    expect(s.redact('abxxc').text).toBe('ab[CUSTOM_OPT_1]c');
  });
});

describe('echoes', () => {
  const policy = compileRedactionPolicy({});

  it('redacts an unlabelled copy of a value a label revealed as a secret', () => {
    const s = policy.newSession();
    const text = `my secret is ${FAKE.awsSecret}\naws_secret_access_key=${FAKE.awsSecret}`;
    expect(s.redact(text).text).toBe('my secret is [AWS_SECRET_KEY_1]\naws_secret_access_key=[AWS_SECRET_KEY_1]');
    expect(s.findings()).toEqual({ aws_secret_key: 2 });
  });

  it('sweeps values revealed by an earlier message of the session', () => {
    const s = policy.newSession();
    expect(s.redact(FAKE.dbUrl).text).toBe('postgres://app:[URL_PASSWORD_1]@db.internal:5432/prod');
    expect(s.redact('and the password FAKE-s3cret-pw works in psql').text).toBe('and the password [URL_PASSWORD_1] works in psql');
  });

  it('does not sweep short values, which would hit ordinary words', () => {
    const s = policy.newSession();
    expect(s.redact('redis://:hunter2@cache:6379 says hunter2').text).toBe('redis://:[URL_PASSWORD_1]@cache:6379 says hunter2');
  });
});

describe('overlaps', () => {
  it('prefers secrets over custom patterns over PII, then the longer span', () => {
    const policy = compileRedactionPolicy({
      custom_patterns: [
        { name: 'host', pattern: 'db\\.internal', action: 'redact' },
        { name: 'digits', pattern: '[0-9]{4} [0-9]{4}', action: 'redact' },
        { name: 'fake', pattern: 'FAKEfake[0-9]+', action: 'redact' },
      ],
    });
    const s = policy.newSession();
    // The custom "digits" overlaps the (longer) card: custom beats PII whatever the length.
    expect(s.redact(`${FAKE.card}`).text).toBe('[CUSTOM_DIGITS_1] [CUSTOM_DIGITS_1]');
    // The custom "fake" lies inside an OpenAI key: the secret wins.
    expect(s.redact(`${FAKE.openai} FAKEfake42`).text).toBe('[OPENAI_KEY_1] [CUSTOM_FAKE_1]');
    // Among PII, the longer span wins: an IPv4-mapped IPv6 address is not an IPv4.
    expect(scanText(policy, '::ffff:192.0.2.128').map((x) => x.type)).toEqual(['ipv6']);
    // A JWT contains base64 that no PII detector should take.
    expect(scanText(policy, `Bearer ${FAKE.jwt}`).map((x) => x.type)).toEqual(['jwt']);
  });

  it('returns sorted, non-overlapping spans with offsets only', () => {
    const policy = compileRedactionPolicy({});
    const text = `${FAKE.email} ${FAKE.dbUrl} ${FAKE.ipv6}`;
    const spans = scanText(policy, text);
    expect(spans.map((x) => x.type)).toEqual(['email', 'url_password', 'ipv6']);
    for (const sp of spans) expect(Object.keys(sp).sort()).toEqual(['end', 'start', 'type']);
    for (let i = 1; i < spans.length; i++) expect(spans[i].start).toBeGreaterThanOrEqual(spans[i - 1].end);
    expect(text.slice(spans[1].start, spans[1].end)).toBe('FAKE-s3cret-pw');
  });
});
