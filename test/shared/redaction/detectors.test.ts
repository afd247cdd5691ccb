import { compileRedactionPolicy, scanText } from '../../../plugins/shared/redaction';
import { FAKE } from './fixtures';

const policy = compileRedactionPolicy({});
/** The (type, text) pairs found in `text`. */
const found = (text: string) => scanText(policy, text).map((s) => [s.type, text.slice(s.start, s.end)]);

describe('built-in detectors', () => {
  it.each([
    ['email', `Regards, ${FAKE.email}.`, FAKE.email],
    ['payment_card', 'card 4111-1111-1111-1111 exp', '4111-1111-1111-1111'],
    ['iban', `IBAN ${FAKE.iban}, thanks`, FAKE.iban],
    ['us_ssn', `SSN ${FAKE.ssn}`, FAKE.ssn],
    ['phone', `tel ${FAKE.phone}`, FAKE.phone],
    ['ipv4', 'from 10.0.0.5:8080', '10.0.0.5'],
    ['ipv6', `[${FAKE.ipv6}]:443`, FAKE.ipv6],
    ['openai_key', `OPENAI_API_KEY=${FAKE.openaiLegacy}`, FAKE.openaiLegacy],
    ['anthropic_key', `x-api-key: ${FAKE.anthropic}`, FAKE.anthropic],
    ['aws_access_key', `id=${FAKE.awsAccess}`, FAKE.awsAccess],
    ['aws_secret_key', `"SecretAccessKey": "${FAKE.awsSecret}"`, FAKE.awsSecret],
    ['github_token', `token ${FAKE.github}`, FAKE.github],
    ['slack_token', `SLACK=${FAKE.slack}`, FAKE.slack],
    ['stripe_key', `Stripe(${FAKE.stripe})`, FAKE.stripe],
    ['google_api_key', `key=${FAKE.google}&x=1`, FAKE.google],
    ['jwt', `Bearer ${FAKE.jwt}`, FAKE.jwt],
    ['pem_private_key', `key:\n${FAKE.pem}\n`, FAKE.pem],
    ['url_password', FAKE.dbUrl, 'FAKE-s3cret-pw'],
  ])('%s: finds it in context', (type, text, value) => {
    expect(found(text)).toEqual([[type, value]]);
  });

  it.each([
    ['a card number failing Luhn', '4242 4242 4242 4241'],
    ['a Luhn-valid number outside issuer ranges', '1000 0000 0000 0009'],
    ['an IBAN with a bad checksum', 'DE89 3704 0044 0532 0130 01'],
    ['an IBAN of the wrong length for its country', 'DE89370400440532013'],
    ['SSN area 000, 666, 9xx', '000-12-3456 666-12-3456 912-12-3456'],
    ['SSN group 00 and serial 0000', '123-00-4567 123-45-0000'],
    ['a dotted version of 5 parts', '1.2.3.4.5'],
    ['a labelled version', 'version 10.2.3.4, build 10.2.3.4'],
    ['octets over 255 or with leading zeros', '256.1.1.1 01.2.3.4'],
    ['times, MACs and C++ scopes', '12:30:45 00:1a:2b:3c:4d:5e std::vector a::b ::1'],
    ['sk- inside words and phrases', 'task-sk-list sk-learn sk-this-is-a-long-hyphenated-phrase'],
    ['a Stripe publishable key', 'pk_live_FAKEfake0000000000000000FAKE pk_test_FAKEfake0000000000000000FAKE'],
    ['JWT-shaped base64 whose header has no alg', 'eyJmb28iOiJiYXIifQ.eyJiYXIiOiJiYXoifQ.c2ln'],
    ['an AWS-like key in a longer word', 'XAKIAFAKEFAKEFAKE1234 AKIAFAKEFAKEFAKE12345'],
    ['a 40-char secret without its label', FAKE.awsSecret],
    ['a public key or certificate', '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----'],
    ['URL userinfo without a password or with a template', 'https://u@h.com postgres://u:${PW}@h/db redis://:<password>@h'],
    ['bare digit runs, dates and ISBNs', '123456789012 2024-01-15 978-3-16-148410-0 1700000000000'],
  ])('ignores %s', (_what, text) => {
    expect(found(text)).toEqual([]);
  });

  it('redacts a truncated PEM key from its header through the body', () => {
    const text = 'pasted:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\nFAKEfake';
    expect(found(text)).toEqual([['pem_private_key', text.slice(8)]]);
  });

  it('takes the card and leaves its CVV', () => {
    expect(found('4111 1111 1111 1111 123')).toEqual([['payment_card', '4111 1111 1111 1111']]);
  });

  it('keeps a password containing @ whole', () => {
    expect(found('mysql://root:p@ss@w0rd@db.example.com/app')).toEqual([['url_password', 'p@ss@w0rd']]);
  });
});
