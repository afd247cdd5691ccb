/**
 * How every plugin of the suite turns the config Kong sends into its per-config
 * state, and what it does when that config cannot work.
 *
 * A config that cannot work does not throw from the plugin's constructor: Kong would
 * retry StartInstance on every request and answer its own bare 500. The instance is
 * `Broken` instead: every request gets an OpenAI-format 500 from the plugin, and the
 * reason is logged once per instance. Reasons come from config errors (their messages
 * name fields and pattern names, never values); anything else goes through safeError.
 */
import type { KongFieldList } from './kong-config';
import { parsePluginConfig } from './kong-config';
import type { KongPdk } from './pdk';
import { sharedPerConfig } from './per-config';
import { safeError } from './safe-error';

export type Broken = { ok: false; reason: string };

/** Config errors of the suite are named `...ConfigError` (PluginConfigError, LlmAuthConfigError, ...). */
const isConfigError = (err: unknown): err is Error => err instanceof Error && /ConfigError$/.test(err.name);

/**
 * Parses `raw` with the plugin's schema, lets `normalize` adjust it, and returns the
 * one state for that config (shared by the instances of every nginx worker), or why
 * there is none.
 */
export function configureInstance<C, R extends { ok: true }>(
  plugin: string,
  schema: KongFieldList,
  raw: unknown,
  make: (config: C) => R,
  normalize: (config: C) => C = (c) => c,
): R | Broken {
  try {
    const config = normalize(parsePluginConfig<C>(schema, raw));
    return sharedPerConfig(plugin, config, () => make(config));
  } catch (err) {
    return { ok: false, reason: isConfigError(err) ? err.message : safeError(err).error };
  }
}

/** Logs a broken config's reason at error level, the first time a request meets it. */
export class InvalidConfigReport {
  private reported = false;

  async once(kong: KongPdk, plugin: string, broken: Broken): Promise<void> {
    if (this.reported) return;
    this.reported = true;
    await kong.log.err(JSON.stringify({ plugin, event: 'invalid_config', error: broken.reason }));
  }
}
