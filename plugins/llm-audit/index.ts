/**
 * The llm-audit plugin as kong-js-pluginserver loads it. Log phase only. Priority 12
 * (Kong's http-log's): the order of log phases does not change what it writes, since
 * a JS log phase runs in its own timer on what Kong saved when the request ended.
 */
import { LlmAuditHandler, PLUGIN_NAME } from './handler';
import { Schema } from './schema';

export const Name = PLUGIN_NAME;
export const Version = '0.1.0';
export const Priority = 12;
export { Schema };
export { LlmAuditHandler as Plugin };
