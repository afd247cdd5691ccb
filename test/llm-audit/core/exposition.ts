/**
 * A strict reader of Prometheus' text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), for tests: every line
 * must be a HELP, a TYPE or a sample of a declared family, label values may use only
 * the three escapes the format defines, and no series may appear twice. Anything else
 * throws with the line number, so a hostile label value that broke a line would fail
 * the test instead of being read around.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  /** Family name to type (`counter`, `gauge`, `histogram`, ...). */
  types: Map<string, string>;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const HELP = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/;
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

function family(types: Map<string, string>, name: string): string | undefined {
  if (types.has(name) && !['histogram', 'summary'].includes(types.get(name)!)) return name;
  for (const [fam, type] of types) {
    for (const s of SUFFIXES[type] ?? []) if (name === fam + s) return fam;
  }
  return undefined;
}

function parseValue(text: string, line: number): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const v = Number(text);
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text) || !Number.isFinite(v)) throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`);
  return v;
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = Object.create(null);
  let rest = text;
  while (rest.length > 0) {
    const m = LABEL.exec(rest);
    if (!m) throw new Error(`line ${line}: bad labels ${JSON.stringify(rest)}`);
    if (m[1] in labels) throw new Error(`line ${line}: label ${m[1]} twice`);
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(m[0].length);
  }
  return labels;
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((l, i) => {
    const n = i + 1;
    if (l === '') return;
    if (l.startsWith('# HELP ')) {
      if (!HELP.test(l)) throw new Error(`line ${n}: bad HELP`);
      return;
    }
    const t = TYPE.exec(l);
    if (t) {
      if (types.has(t[1])) throw new Error(`line ${n}: TYPE ${t[1]} twice`);
      types.set(t[1], t[2]);
      return;
    }
    if (l.startsWith('#')) throw new Error(`line ${n}: unexpected comment ${JSON.stringify(l)}`);
    const s = SAMPLE.exec(l);
    if (!s) throw new Error(`line ${n}: not a sample ${JSON.stringify(l)}`);
    if (family(types, s[1]) === undefined) throw new Error(`line ${n}: sample of undeclared family ${s[1]}`);
    const labels = parseLabels(s[2] ?? '', n);
    const key = s[1] + JSON.stringify(Object.entries(labels).sort());
    if (seen.has(key)) throw new Error(`line ${n}: series twice`);
    seen.add(key);
    samples.push({ name: s[1], labels, value: parseValue(s[3], n) });
  });
  return { types, samples };
}

/** The value of the one sample named `name` whose labels include `labels`; throws unless exactly one. */
export function valueOf(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const hits = e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${hits.length} samples of ${name} ${JSON.stringify(labels)}`);
  return hits[0].value;
}

/** Samples named `name` (label sets distinct by construction). */
export const seriesOf = (e: Exposition, name: string): Sample[] => e.samples.filter((s) => s.name === name);
