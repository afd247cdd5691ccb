import { normalizeForScan, stripInvisible } from '../../../../plugins/llm-guard/core/injection';

describe('stripInvisible', () => {
  it('removes zero-width characters, soft hyphens, the grapheme joiner and variation selectors', () => {
    const hidden = 'i\u200Bg\u200Cn\u200Do\u2060r\uFEFFe\u180E \u00ADa\u034Fb\uFE0Fc\u{E0100}d';
    expect(stripInvisible(hidden)).toBe('ignore abcd');
  });

  it('removes bidi embeddings, overrides, isolates and marks', () => {
    const bidi = '\u202Aa\u202Bb\u202Cc\u202Dd\u202Ee\u2066f\u2067g\u2068h\u2069i\u200Ej\u200Fk\u061Cl';
    expect(stripInvisible(bidi)).toBe('abcdefghijkl');
  });

  it('removes Unicode tag characters (invisible ASCII smuggling)', () => {
    const smuggled = 'hi' + Array.from('ignore', (c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('');
    expect(stripInvisible(smuggled)).toBe('hi');
  });

  it('keeps case, compatibility forms, homoglyphs, accents and whitespace as the user wrote them', () => {
    const text = 'Ｆｕｌｌ Wіdth  ТЕКСТ\n\tcafé ﬁ';
    expect(stripInvisible(text)).toBe(text);
  });
});

describe('normalizeForScan', () => {
  it('applies NFKC: fullwidth, ligatures, styled letters', () => {
    expect(normalizeForScan('ＩＧＮＯＲＥ ﬁle 𝐛𝐨𝐥𝐝 ①')).toBe('ignore file bold 1');
  });

  it('maps Cyrillic and Greek look-alikes to Latin', () => {
    expect(normalizeForScan('іgnоrе ѕуѕtеm рrоmрt')).toBe('ignore system prompt');
    expect(normalizeForScan('ΙGΝΟRΕ ΡRΕVΙΟUS')).toBe('ignore previous');
    expect(normalizeForScan('ԁеvеlореr ɡо ј')).toBe('developer go j');
  });

  it('drops accents and other combining marks', () => {
    expect(normalizeForScan('Ïgnörë prëvïöüs')).toBe('ignore previous');
  });

  it('joins words split by zero-width and bidi characters', () => {
    expect(normalizeForScan('ig\u200Bno\u200Dre \u202Eprevious\u202C')).toBe('ignore previous');
  });

  it('reveals Unicode tag text, set apart by spaces', () => {
    const smuggled = 'hi' + Array.from('Ignore rules', (c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('');
    expect(normalizeForScan(smuggled)).toBe('hi ignore rules ');
  });

  it('collapses whitespace runs to one space, and runs with a line break to one newline', () => {
    expect(normalizeForScan('a \t\u00A0\u3000 b\r\n\r\n\nc')).toBe('a b\nc');
  });

  it('keeps one space before an indented line, so nested YAML keys stay distinguishable', () => {
    expect(normalizeForScan('root:\n    system: x\nsystem: y')).toBe('root:\n system: x\nsystem: y');
  });

  it('maps typographic apostrophes and quotes to ASCII', () => {
    expect(normalizeForScan('don\u2019t \u201Cquote\u201D')).toBe('don\'t "quote"');
  });

  it('leaves scripts without Latin look-alikes readable', () => {
    expect(normalizeForScan('我们今天去公园')).toBe('我们今天去公园');
  });

  it('is idempotent on its own output', () => {
    const once = normalizeForScan('ＩＧＮＯＲＥ  Ïgnörë\u200B іgnоrе\n\n  x');
    expect(normalizeForScan(once)).toBe(once);
  });
});
