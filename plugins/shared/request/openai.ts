/**
 * Which OpenAI endpoint a request is for, and where its prompt texts are: every text
 * a client wrote that reaches the model, so the guard scans, redacts and counts the
 * same set (OpenAI API reference: Chat Completions, Completions, Embeddings, Responses).
 *
 * What counts as a prompt text (the decisions, in one place):
 * - chat.completions: `messages[i].content` as a string, or each `content[j].text` of a
 *   part with `type: 'text'`, for EVERY role: system/developer instructions, user text,
 *   assistant turns and tool results are all client-supplied (a forged assistant turn
 *   or a tool result is the usual indirect-injection carrier).
 *   Also `messages[i].tool_calls[k].function.arguments` and the legacy
 *   `messages[i].function_call.arguments`: the model reads them back, and they carry
 *   user data (PII) as often as content does. Tool definitions' `tools[k].function.description`
 *   and legacy `functions[k].description`: free text the model reads as instructions
 *   (the "tool poisoning" carrier).
 *   Not texts: `name` (an identifier, counted as tokens but neither scanned nor
 *   rewritten), image/audio/file parts, `refusal` parts, JSON Schema `parameters` of
 *   tools (structure, and rewriting inside it could break the schema).
 * - completions: `prompt` (string, or each string of a string array) and `suffix`;
 *   token arrays are not text.
 * - embeddings: `input` (string or each string of a string array); token arrays skipped.
 * - responses: `instructions`; `input` as a string; for each input item, `content` as a
 *   string or each part of type `input_text`/`output_text`; `output` of a
 *   `function_call_output` item and `arguments` of a `function_call` item; and
 *   `tools[k].description` of function tools.
 */
import { joinPath } from './path';
import { isObj, type Obj } from '../values';

export type Endpoint = 'chat.completions' | 'completions' | 'embeddings' | 'responses';

export const ENDPOINTS: readonly Endpoint[] = ['chat.completions', 'completions', 'embeddings', 'responses'];

/** Path suffixes, longest first: `/chat/completions` must win over `/completions`. */
const SUFFIXES: ReadonlyArray<readonly [string, Endpoint]> = [
  ['/chat/completions', 'chat.completions'],
  ['/completions', 'completions'],
  ['/embeddings', 'embeddings'],
  ['/responses', 'responses'],
];

/**
 * The create endpoint a request path is for, or null. Kong may pass the path with a
 * route prefix (`/openai/v1/chat/completions`), and a client may omit `/v1`; the
 * match is on whole trailing segments. Repeated and trailing slashes are ignored
 * (nginx merges slashes before routing), a query string is dropped. Sub-resources
 * (`/v1/responses/{id}`, `/v1/chat/completions/{id}`) are not creates: null.
 */
export function endpointOf(path: string): Endpoint | null {
  if (typeof path !== 'string') return null;
  const q = path.indexOf('?');
  const clean = (q >= 0 ? path.slice(0, q) : path).replace(/\/{2,}/g, '/').replace(/\/+$/, '');
  for (const [suffix, endpoint] of SUFFIXES) {
    // `/completions` also ends `/chat/completions`; the order above settles it
    if (clean === suffix.slice(1) || clean.endsWith(suffix)) return endpoint;
  }
  return null;
}

/** One prompt text and where it is in the body (`messages[2].content[0].text`). */
export interface PromptText {
  param: string;
  text: string;
}

type Key = string | number;
interface Located extends PromptText {
  keys: Key[];
}

const pathOf = (keys: readonly Key[]): string => keys.reduce<string>((p, k) => joinPath(p, k), '');

/** Every prompt text of the body with its location, in body order. */
function locate(endpoint: Endpoint, body: unknown): Located[] {
  const out: Located[] = [];
  if (!isObj(body)) return out;
  const add = (text: unknown, keys: Key[]) => {
    if (typeof text === 'string') out.push({ param: pathOf(keys), text, keys });
  };
  const stringOrStrings = (v: unknown, key: string) => {
    if (typeof v === 'string') add(v, [key]);
    else if (Array.isArray(v)) v.forEach((s, i) => add(s, [key, i]));
  };
  switch (endpoint) {
    case 'chat.completions': {
      const messages = body.messages;
      if (Array.isArray(messages)) {
        messages.forEach((m, i) => {
          if (!isObj(m)) return;
          locateContent(m.content, ['messages', i, 'content'], ['text'], add);
          if (Array.isArray(m.tool_calls)) {
            m.tool_calls.forEach((c, k) => {
              if (isObj(c) && isObj(c.function)) add(c.function.arguments, ['messages', i, 'tool_calls', k, 'function', 'arguments']);
            });
          }
          if (isObj(m.function_call)) add(m.function_call.arguments, ['messages', i, 'function_call', 'arguments']);
          // an assistant turn the client supplies may carry its text as a refusal
          add(m.refusal, ['messages', i, 'refusal']);
          if (Array.isArray(m.content)) {
            m.content.forEach((part, j) => {
              if (isObj(part) && part.type === 'refusal') add(part.refusal, ['messages', i, 'content', j, 'refusal']);
            });
          }
        });
      }
      // Predicted Outputs: text the model is shown as the expected answer
      if (isObj(body.prediction)) locateContent(body.prediction.content, ['prediction', 'content'], ['text'], add);
      if (Array.isArray(body.tools)) {
        body.tools.forEach((t, k) => {
          if (isObj(t) && isObj(t.function)) add(t.function.description, ['tools', k, 'function', 'description']);
        });
      }
      if (Array.isArray(body.functions)) {
        body.functions.forEach((f, k) => {
          if (isObj(f)) add(f.description, ['functions', k, 'description']);
        });
      }
      break;
    }
    case 'completions':
      stringOrStrings(body.prompt, 'prompt');
      add(body.suffix, ['suffix']);
      break;
    case 'embeddings':
      stringOrStrings(body.input, 'input');
      break;
    case 'responses': {
      add(body.instructions, ['instructions']);
      const input = body.input;
      if (typeof input === 'string') add(input, ['input']);
      else if (Array.isArray(input)) {
        input.forEach((item, i) => {
          if (!isObj(item)) return;
          locateContent(item.content, ['input', i, 'content'], ['input_text', 'output_text'], add);
          if (item.type === 'function_call_output') locateContent(item.output, ['input', i, 'output'], ['input_text', 'output_text'], add);
          if (item.type === 'function_call') add(item.arguments, ['input', i, 'arguments']);
          if (item.type === 'custom_tool_call') add(item.input, ['input', i, 'input']);
          if (item.type === 'custom_tool_call_output') locateContent(item.output, ['input', i, 'output'], ['input_text', 'output_text'], add);
          if (item.type === 'reasoning' && Array.isArray(item.summary)) {
            item.summary.forEach((part, j) => {
              if (isObj(part)) add(part.text, ['input', i, 'summary', j, 'text']);
            });
          }
        });
      }
      if (Array.isArray(body.tools)) {
        body.tools.forEach((t, k) => {
          if (isObj(t) && (t.type === 'function' || t.type === 'custom')) add(t.description, ['tools', k, 'description']);
        });
      }
      // a stored prompt's variables are filled into it by OpenAI
      if (isObj(body.prompt) && isObj(body.prompt.variables)) {
        for (const [name, v] of Object.entries(body.prompt.variables)) {
          if (typeof v === 'string') add(v, ['prompt', 'variables', name]);
          else if (isObj(v) && v.type === 'input_text') add(v.text, ['prompt', 'variables', name, 'text']);
        }
      }
      break;
    }
  }
  return out;
}

function locateContent(content: unknown, keys: Key[], textTypes: readonly string[], add: (t: unknown, k: Key[]) => void): void {
  if (typeof content === 'string') add(content, keys);
  else if (Array.isArray(content)) {
    content.forEach((part, j) => {
      if (isObj(part) && typeof part.type === 'string' && textTypes.includes(part.type)) add(part.text, [...keys, j, 'text']);
    });
  }
}

/**
 * Every client-written text of the body that goes to the model (see the file
 * comment for which), in body order. A body of the wrong shape yields what is
 * recognizable in it; never throws.
 */
export function promptTexts(endpoint: Endpoint, body: unknown): PromptText[] {
  return locate(endpoint, body).map(({ param, text }) => ({ param, text }));
}

/**
 * A copy of `body` with the texts at `replacements`' params (as `promptTexts`
 * names them) replaced, so a redactor rewrites every text and the body is
 * serialized once. Only the containers on the way to a replaced text are copied
 * (spread/slice: defining members, so an own `__proto__` member stays a member);
 * `body` itself is never modified. Params that are not prompt texts of this body
 * are ignored.
 */
export function replaceTexts<T>(endpoint: Endpoint, body: T, replacements: ReadonlyMap<string, string>): T {
  if (replacements.size === 0) return body;
  const targets = locate(endpoint, body).filter((l) => replacements.has(l.param));
  if (targets.length === 0) return body;
  const fresh = new WeakSet<object>();
  const copy = (v: unknown): unknown => {
    const c = Array.isArray(v) ? v.slice() : { ...(v as Obj) };
    fresh.add(c);
    return c;
  };
  const root = copy(body) as Obj;
  for (const { keys, param } of targets) {
    let node: Obj | unknown[] = root;
    for (let i = 0; i < keys.length - 1; i++) {
      const k = keys[i];
      const child = (node as Obj)[k as string];
      const next = fresh.has(child as object) ? child : copy(child);
      (node as Obj)[k as string] = next;
      node = next as Obj;
    }
    (node as Obj)[keys[keys.length - 1] as string] = replacements.get(param);
  }
  return root as T;
}
