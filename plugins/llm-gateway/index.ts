/**
 * The llm-gateway plugin as kong-js-pluginserver loads it: the suite's stages (llm-auth,
 * llm-guard, llm-rate-limit, llm-audit) in one access event per request, with its Lua
 * companion (kong/lua/gateway-*.lua). Priority 1420, llm-auth's: it decides where the
 * first of the separate plugins would.
 */
import { setAuditHome } from '../llm-audit/runtime';
import { kongPrefix } from '../shared/kong-prefix';
import { LlmGatewayHandler, PLUGIN_NAME } from './handler';
import { startIngest } from './ingest';
import { Schema } from './schema';

// this plugin server's audit file, disk buffers and chain states: <prefix>/llm-gateway/
setAuditHome(PLUGIN_NAME);
// the ingest listens from the start in the plugin server Kong runs (not in its query command)
if (kongPrefix() !== null && !process.argv.some((a) => a.startsWith('--dump'))) startIngest();

export const Name = PLUGIN_NAME;
export const Version = '0.1.0';
export const Priority = 1420;
export { Schema };
export { LlmGatewayHandler as Plugin };
