/**
 * The llm-response-guard plugin as kong-js-pluginserver loads it. Priority 1005: its
 * access phase (the bypass mark) runs after llm-guard's; the response phase order
 * among our plugins does not matter (the others have none).
 */
import { LlmResponseGuardHandler, PLUGIN_NAME } from './handler';
import { Schema } from './schema';

export const Name = PLUGIN_NAME;
export const Version = '0.1.0';
export const Priority = 1005;
export { Schema };
export { LlmResponseGuardHandler as Plugin };
