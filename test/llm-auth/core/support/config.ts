/**
 * Test configs through the suite's one defaults path (`processConfig`, as Kong fills
 * them): every test runs with the config shape the plugin really receives, and a
 * config Kong's schema would reject fails the test instead.
 */
import { processConfig } from '../../../../plugins/shared/kong-config';
import { Schema, type LlmAuthConfig } from '../../../../plugins/llm-auth/schema';

type Overrides = Partial<Omit<LlmAuthConfig, 'jwt' | 'introspection'>> & {
  jwt?: Partial<LlmAuthConfig['jwt']>;
  introspection?: Partial<LlmAuthConfig['introspection']>;
};

/** Schema defaults with `openai_api_key` set, plus the overrides (one level into `jwt` and `introspection`). */
export function makeConfig(overrides: Overrides = {}): LlmAuthConfig {
  const { jwt = {}, introspection = {}, ...rest } = overrides;
  const { config, errors } = processConfig(Schema, { openai_api_key: 'sk-upstream-test', ...rest, jwt, introspection });
  if (errors.length > 0) throw new Error(`test config rejected by the schema: ${errors.join('; ')}`);
  return config as unknown as LlmAuthConfig;
}
