/**
 * Kong lets a request through when an external plugin's phase throws (the plugin
 * server answers "ret" and Kong proceeds: fail OPEN). A plugin that guards anything
 * therefore runs its phase through `failClosed`: any error that escapes ends the
 * request with an explicit 500 in OpenAI's format, and the cause is logged at error
 * level through Kong's own log without request data.
 */
import type { KongPdk } from './pdk';
import { internalError, reject } from './openai-error';
import { safeError } from './safe-error';

/**
 * @param scrub request headers to remove before answering (a plugin that reads
 *   credentials passes them as empty lists): the rejected request is still
 *   serialized by Kong's log plugins, which redact only Authorization.
 */
export async function failClosed(
  kong: KongPdk,
  plugin: string,
  phase: (kong: KongPdk) => Promise<void>,
  scrub?: Readonly<Record<string, string[] | string>>,
): Promise<void> {
  try {
    await phase(kong);
  } catch (err) {
    // Not awaited: the calls are queued in order on the event, and the rejection
    // must go out even if one is never answered (Kong stops answering once an
    // earlier kong.response.exit of this phase went through).
    void kong.log.err(JSON.stringify({ plugin, event: 'internal_error', ...safeError(err) })).catch(() => undefined);
    if (scrub) void kong.service.request.setHeaders({ ...scrub }).catch(() => undefined);
    await reject(kong, internalError(`${plugin.replace(/-/g, '_')}_internal_error`));
  }
}
