/**
 * The llm-guard plugin as kong-js-pluginserver loads it. Priority 1010: after
 * llm-auth (1420), so only authenticated prompts are parsed, and before
 * llm-rate-limit, which reads the request facts (model, tokens) this plugin publishes.
 */
import { LlmGuardHandler, PLUGIN_NAME } from './handler';
import { Schema } from './schema';

export const Name = PLUGIN_NAME;
export const Version = '0.1.0';
export const Priority = 1010;
export { Schema };
export { LlmGuardHandler as Plugin };
