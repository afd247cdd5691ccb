/**
 * The llm-auth plugin as kong-js-pluginserver loads it. Priority 1420: after Kong's
 * jwt (1450) and before key-auth (1250) and everything of ours, so the identity is
 * known when rate limits, guards and audit run.
 */
import { LlmAuthHandler, PLUGIN_NAME } from './handler';
import { Schema } from './schema';

export const Name = PLUGIN_NAME;
export const Version = '0.1.0';
export const Priority = 1420;
export { Schema };
export { LlmAuthHandler as Plugin };
