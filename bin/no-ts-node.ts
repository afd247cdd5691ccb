/**
 * kong-pdk's plugin loader calls `require('ts-node').register()` when it loads
 * (~0.35 s of every server start and every query command). Our plugins ship as
 * compiled JavaScript, so ts-node is answered with a no-op before kong-pdk loads.
 * Imported first by llm-pluginserver.ts: module evaluation order is import order.
 */
import Module = require('module');

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const loader = Module as unknown as { _load: Load };
const originalLoad = loader._load;
const tsNodeStub = Object.freeze({ register: () => undefined });

loader._load = function load(this: unknown, request: string, parent: unknown, isMain: boolean): unknown {
  if (request === 'ts-node') return tsNodeStub;
  return originalLoad.call(this, request, parent, isMain);
};
