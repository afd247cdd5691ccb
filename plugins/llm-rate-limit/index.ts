/**
 * The llm-rate-limit plugin as kong-js-pluginserver loads it. Priority 910 (Kong's own
 * rate-limiting's): after llm-auth (1420), whose identity keys the limits, and after
 * llm-guard (1010), whose request facts (model, prompt tokens) it reserves from, so a
 * request the guard refuses charges no budget.
 */
import { LlmRateLimitHandler, PLUGIN_NAME } from './handler';
import { Schema } from './schema';

export const Name = PLUGIN_NAME;
export const Version = '0.1.0';
export const Priority = 910;
export { Schema };
export { LlmRateLimitHandler as Plugin };
