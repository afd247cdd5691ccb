/**
 * The `mask` action: a partial view that lets a reader tell values apart (which card,
 * which mailbox) without the value. Masks are not restorable. Per type:
 * - email: first character of the local part, `***`, the domain: `j***@example.com`;
 * - payment_card: `*` per digit but the last 4, separators dropped: `************4242`;
 * - iban: country code, `*` per character, the last 4, compact: `DE****************3000`;
 * - us_ssn: `***-**-6789`;
 * - phone: every digit but the last 2 as `*`, `+` and separators kept: `+* (***) ***-**71`;
 * - ipv4: first octet: `192.*.*.*`; ipv6: first group: `2001:****`;
 * - pem_private_key: the BEGIN line, `****`, the END line;
 * - url_password: `****`;
 * - other secrets: their public prefix (`sk-proj-`, `ghp_`, `AKIA`, `eyJ`, ...), `****`,
 *   and the last 4 characters when at least 16 characters are hidden (as OpenAI's and
 *   GitHub's consoles show keys); otherwise prefix and `****` only;
 * - custom patterns: `****` (the shape of an operator's pattern is unknown).
 */
import type { EntityType } from './types';

const STARS = '****';
const MIN_HIDDEN_FOR_TAIL = 16;

/** Public prefixes of secret formats, longest first within each type. */
const SECRET_PREFIX: Readonly<Record<string, RegExp>> = {
  openai_key: /^sk-(?:proj-|svcacct-|admin-)?/,
  anthropic_key: /^sk-ant-(?:[a-z]+[0-9]{2}-)?/,
  aws_access_key: /^(?:AKIA|ASIA)/,
  github_token: /^(?:github_pat_|gh[pousr]_)/,
  slack_token: /^(?:xox[abprs]-|https:\/\/hooks\.slack\.com\/services\/)/,
  stripe_key: /^(?:sk|rk)_(?:live|test)_/,
  google_api_key: /^AIza/,
  jwt: /^eyJ/,
};

/** The masked form of `value`, a match of entity type `type`. */
export function maskValue(type: EntityType, value: string): string {
  switch (type) {
    case 'email': {
      const at = value.lastIndexOf('@');
      return `${value[0]}***${value.slice(at)}`;
    }
    case 'payment_card': {
      const digits = value.replace(/[^0-9]/g, '');
      return '*'.repeat(digits.length - 4) + digits.slice(-4);
    }
    case 'iban': {
      const compact = value.replace(/ /g, '');
      return compact.slice(0, 2) + '*'.repeat(compact.length - 6) + compact.slice(-4);
    }
    case 'us_ssn':
      return `***-**-${value.slice(-4)}`;
    case 'phone': {
      let keep = 2;
      let out = '';
      for (let i = value.length - 1; i >= 0; i--) {
        const ch = value[i];
        if (ch >= '0' && ch <= '9') out = (keep-- > 0 ? ch : '*') + out;
        else out = ch + out;
      }
      return out;
    }
    case 'ipv4':
      return `${value.slice(0, value.indexOf('.'))}.*.*.*`;
    case 'ipv6': {
      const first = value.slice(0, value.indexOf(':'));
      return `${first === '' ? '' : first}:${STARS}`;
    }
    case 'pem_private_key': {
      const headerEnd = value.indexOf('-----', 5) + 5;
      const footer = value.lastIndexOf('-----END ');
      return value.slice(0, headerEnd) + STARS + (footer > 0 ? value.slice(footer) : '');
    }
    case 'url_password':
    case 'aws_secret_key':
      return STARS;
    default: {
      const prefix = SECRET_PREFIX[type]?.exec(value)?.[0];
      if (prefix === undefined) return STARS;
      const hidden = value.length - prefix.length - 4;
      return hidden >= MIN_HIDDEN_FOR_TAIL ? prefix + STARS + value.slice(-4) : prefix + STARS;
    }
  }
}
