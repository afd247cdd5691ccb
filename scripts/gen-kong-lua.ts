/**
 * Writes the bypass guard's Lua into kong/kong.yml from its one source,
 * kong/lua/bypass-guard.lua: every post-function `access` chunk that starts with the
 * guard's marker comment is replaced by the file's code, with that chunk's own list
 * of required marks (which stays in kong.yml, next to the plugins it names). So a
 * route that runs one more of our plugins gets its own guard without a second copy
 * of the code. `--check` fails on drift (the test suite runs it); run
 * `npm run gen:kong-lua` after editing the Lua, then `npm run gen:kong-test`.
 *
 *   node dist/scripts/gen-kong-lua.js [--check]
 */
import fs = require('fs');
import path = require('path');
import { REPO_ROOT } from './repo-root';

const KONG_YML = path.join(REPO_ROOT, 'kong', 'kong.yml');
const GUARD_LUA = path.join(REPO_ROOT, 'kong', 'lua', 'bypass-guard.lua');
const MARKER = '-- llm-bypass-guard:';
const REQUIRED_LINE = /^local required = \{([^}]*)\}$/;
const TEMPLATE_MARKS = '"REQUIRED_MARKS"';

/** The guard for these marks, as the Lua file spells it. */
export function guardChunk(template: string, marks: readonly string[]): string {
  const lines = template.replace(/\n+$/, '').split('\n');
  const at = lines.findIndex((l) => REQUIRED_LINE.test(l));
  if (at === -1 || !lines[at].includes(TEMPLATE_MARKS)) throw new Error(`${path.basename(GUARD_LUA)}: no \`local required = { ${TEMPLATE_MARKS} }\` line`);
  lines[at] = `local required = { ${marks.map((m) => JSON.stringify(m)).join(', ')} }`;
  return lines.join('\n');
}

/** kong.yml with every guard chunk rewritten from the template, marks kept. */
export function withGuards(yml: string, template: string): string {
  const lines = yml.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    out.push(lines[i]);
    // a YAML literal block (`- |`) whose first line is the guard's marker comment
    if (!/^\s*- \|\s*$/.test(lines[i]) || !lines[i + 1]?.trim().startsWith(MARKER)) continue;
    const indent = lines[i + 1].match(/^\s*/)![0];
    let end = i + 1;
    while (end < lines.length && (lines[end].startsWith(indent) || lines[end].trim() === '')) end++;
    // trailing blank lines belong to what follows
    while (end > i + 1 && lines[end - 1].trim() === '') end--;
    const block = lines.slice(i + 1, end).map((l) => l.slice(indent.length));
    const required = block.map((l) => REQUIRED_LINE.exec(l.trim())).find(Boolean);
    if (!required) throw new Error(`kong.yml line ${i + 2}: a bypass guard without \`local required = { ... }\``);
    const marks = [...required[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    // marks spelled another way (single quotes) would read as none: a guard that checks nothing
    if (marks.length === 0 || required[1].replace(/"[^"]+"/g, '').replace(/[\s,]/g, '') !== '') {
      throw new Error(`kong.yml line ${i + 2}: write the required marks as double-quoted strings`);
    }
    out.push(...guardChunk(template, marks).split('\n').map((l) => (l ? indent + l : l)));
    i = end - 1;
  }
  return out.join('\n');
}

function main(): void {
  const current = fs.readFileSync(KONG_YML, 'utf8');
  const next = withGuards(current, fs.readFileSync(GUARD_LUA, 'utf8'));
  if (process.argv.includes('--check')) {
    if (next !== current) {
      process.stderr.write('kong/kong.yml bypass guards differ from kong/lua/bypass-guard.lua: run `npm run gen:kong-lua`\n');
      process.exit(1);
    }
    return;
  }
  fs.writeFileSync(KONG_YML, next);
  process.stdout.write(`wrote ${path.relative(REPO_ROOT, KONG_YML)}\n`);
}

if (require.main === module) main();
