/**
 * Checks llm-audit's sealed records (JSON lines from a file sink, stdout capture or an
 * export) and reports every edited, dropped, inserted or reordered record with its file,
 * line and seq (plugins/llm-audit/core/verify.ts says what each report means). Chains
 * are followed across restarts through their `prev_chain` links: a predecessor cut
 * short (`truncated`) or absent (`missing_chain`) is reported; a predecessor's records
 * after the point its successor links to are a crash, printed as a `note` (exit 0).
 *
 *   node dist/scripts/audit-verify.js --key-file F [--key-id ID] [--partial-start] FILE...
 *
 * Files are read in the order given, as one stream: pass rotated files oldest first
 * (audit.log.3 audit.log.2 audit.log.1 audit.log); give every file since the first
 * chain you check, or its successors report it missing. `--partial-start` accepts
 * chains that begin after seq 0 and chains whose predecessor is in no file given (the
 * oldest rotated files deleted). The key file holds one key
 * (`base64:…`, `hex:…` or raw text, for `--key-id` or any id) or a JSON object of key id
 * to key. Output names positions and seqs only, never record contents or keys.
 * Exit: 0 every record verified, 1 tampering found, 2 usage or read error.
 * Files are read whole into memory: split very large exports.
 */
import fs = require('fs');
import { AuditKeyError, parseKeyFile } from '../plugins/llm-audit/core/keys';
import { verifyChain } from '../plugins/llm-audit/core/verify';

export const EXIT_OK = 0;
export const EXIT_TAMPERED = 1;
export const EXIT_USAGE = 2;

const USAGE = 'usage: audit-verify --key-file F [--key-id ID] [--partial-start] FILE...';

interface Args {
  keyFile: string;
  keyId?: string;
  partialStart: boolean;
  files: string[];
}

function parseArgs(argv: readonly string[]): Args | string {
  let keyFile: string | undefined;
  let keyId: string | undefined;
  let partialStart = false;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--key-file' || a === '--key-id') {
      const v = argv[++i];
      if (v === undefined) return `${a} needs a value`;
      if (a === '--key-file') keyFile = v;
      else keyId = v;
    } else if (a === '--partial-start') partialStart = true;
    else if (a.startsWith('--')) return `unknown option ${a}`;
    else files.push(a);
  }
  if (keyFile === undefined) return '--key-file is required';
  if (files.length === 0) return 'no file to verify';
  return { keyFile, keyId, partialStart, files };
}

/** Runs the CLI; returns the exit code. `out`/`err` receive whole lines. */
export function runAuditVerify(argv: readonly string[], out: (line: string) => void, err: (line: string) => void): number {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    err(`audit-verify: ${args}`);
    err(USAGE);
    return EXIT_USAGE;
  }
  let keys;
  try {
    keys = parseKeyFile(fs.readFileSync(args.keyFile, 'utf8'), args.keyId);
  } catch (e) {
    // AuditKeyError messages never hold key material; fs errors name the path only
    err(`audit-verify: key file ${args.keyFile}: ${e instanceof AuditKeyError ? e.message : (e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    return EXIT_USAGE;
  }
  const lines: string[] = [];
  const where: { file: string; first: number }[] = [];
  for (const file of args.files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      err(`audit-verify: ${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
      return EXIT_USAGE;
    }
    where.push({ file, first: lines.length + 1 });
    const fileLines = text.split('\n');
    if (fileLines[fileLines.length - 1] === '') fileLines.pop();
    lines.push(...fileLines);
  }
  const position = (line: number): string => {
    let w = where[0];
    for (const x of where) if (x.first <= line) w = x;
    return `${w.file}:${line - w.first + 1}`;
  };
  const result = verifyChain(lines, keys, { partial_start: args.partialStart });
  const seqText = (seq: number | null, to: number | undefined) => (seq === null ? '' : to !== undefined && to !== seq ? ` seq=${seq}..${to}` : ` seq=${seq}`);
  // issues and notes in line order, notes marked as such (they do not change the exit code)
  const reports = [
    ...result.issues.map((i) => ({ line: i.line, text: `${i.kind}${seqText(i.seq, i.seq_to)} chain=${i.chain_id ?? '-'}: ${i.detail}` })),
    ...result.notes.map((n) => ({ line: n.line, text: `note ${n.kind}${seqText(n.seq, n.seq_to)} chain=${n.chain_id}: ${n.detail}` })),
  ].sort((a, b) => a.line - b.line);
  for (const l of reports) out(`${position(l.line)} ${l.text}`);
  const links = result.linked > 0 || result.notes.length > 0 ? `, ${result.linked} linked, ${result.notes.length} notes` : '';
  out(`${result.ok ? 'OK' : 'TAMPERED'}: ${result.records} records, ${result.verified} verified, ${result.chains} chains, ${result.issues.length} issues${links}`);
  return result.ok ? EXIT_OK : EXIT_TAMPERED;
}

if (require.main === module) {
  process.exitCode = runAuditVerify(
    process.argv.slice(2),
    (l) => process.stdout.write(`${l}\n`),
    (l) => process.stderr.write(`${l}\n`),
  );
}
