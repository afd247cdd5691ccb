/**
 * Kong's per-plugin RPC driver (plugin.lua `get_instance_id`, mp_rpc.lua
 * `bridge_loop` and `handle_event`), for one external plugin:
 * - one instance per plugin entity, started with its config as JSON (Kong's extra
 *   fields included) and re-started when the server answers "no plugin instance";
 * - HandleEvent, then each PDK call answered with the typed Step method;
 * - `kong.response.exit`/`error` end the loop with no further Step: Kong's exit
 *   yields the plugin's coroutine and never resumes it;
 * - a PDK call that raises ends the phase with a Lua error (Kong 3.10 never sends
 *   StepError; in access the request ends in Kong's 500);
 * - RPC failures (server down) are logged and the plugin is skipped: Kong fails open.
 */
import type { PluginEntity } from './declarative';
import { callPdk, STEP_METHOD_BY_PDK, type PdkHost } from './pdk';
import type { PluginInfo, PluginServerProcess } from './plugin-server';
import type { RequestContext } from './request-context';
import { RpcClient } from './rpc';

const NON_RETURN = new Set(['kong.response.exit', 'kong.response.error']);
const MAX_INSTANCE_RETRIES = 3;

interface StepIn {
  Data: 'ret' | { Method: string; Args: unknown };
  EventId: number;
}

export interface PdkCallRecord {
  plugin: string;
  phase: string;
  method: string;
}

/** One plugin.HandleEvent Kong sent (a round trip of its own, before any PDK call). */
export interface PluginEventRecord {
  plugin: string;
  phase: string;
}

/** A Lua error raised inside the plugin's phase: Kong turns it into a 500 in access. */
export class PhaseError extends Error {
  override name = 'PhaseError';
}

export class ExternalPlugin {
  readonly rpc: RpcClient;
  private readonly instances = new Map<string, { id: number; seq: number }>();
  private seq = 0;

  constructor(
    readonly info: PluginInfo,
    readonly server: PluginServerProcess,
    private readonly host: PdkHost,
    private readonly onPdkCall?: (r: PdkCallRecord, ctx: RequestContext) => void | Promise<void>,
    private readonly onEvent?: (r: PluginEventRecord, ctx: RequestContext) => void,
  ) {
    this.rpc = new RpcClient(server.def.socket);
  }

  get name(): string {
    return this.info.Name;
  }

  get priority(): number {
    return this.info.Priority ?? 0;
  }

  hasPhase(phase: string): boolean {
    return this.info.Phases.includes(phase);
  }

  /** Kong's config JSON: the filled config plus the fields plugins_iterator adds. */
  configJson(entity: PluginEntity, config: Record<string, unknown>, seq: number): string {
    const cfg: Record<string, unknown> = { ...config };
    if (entity.route) cfg.route_id = entity.route.id;
    if (entity.service) cfg.service_id = entity.service.id;
    if (entity.consumer) cfg.consumer_id = entity.consumer.id;
    cfg.__plugin_id = entity.id;
    cfg.__ws_id = '00000000-0000-4000-8000-000000000000';
    cfg.__key__ = `plugins:${entity.name}:${entity.route?.id ?? ''}:${entity.service?.id ?? ''}:${entity.consumer?.id ?? ''}::`;
    cfg.__seq__ = seq;
    return JSON.stringify(cfg);
  }

  private async instanceId(entity: PluginEntity, config: Record<string, unknown>): Promise<number> {
    const known = this.instances.get(entity.id);
    if (known) return known.id;
    const seq = ++this.seq;
    try {
      const status = (await this.rpc.call('plugin.StartInstance', { Name: this.name, Config: this.configJson(entity, config, seq) })) as { Id: number };
      this.instances.set(entity.id, { id: status.Id, seq });
      return status.Id;
    } catch (err) {
      // plugin.lua: kong.log.err("starting instance: ", err); error(err)
      this.host.log('err', this.name, `starting instance: ${(err as Error).message}`);
      throw new PhaseError(`starting instance: ${(err as Error).message}`);
    }
  }

  /** Kong's reset_instance: every instance of this plugin is forgotten. */
  resetInstances(): void {
    this.instances.clear();
    this.rpc.reset();
  }

  /** Runs one phase; resolves when Kong would move on. Throws PhaseError for a Lua error. */
  async handleEvent(entity: PluginEntity, config: Record<string, unknown>, ctx: RequestContext, phase: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_INSTANCE_RETRIES; attempt++) {
      const iid = await this.instanceId(entity, config);
      try {
        await this.bridgeLoop(iid, ctx, phase);
        return;
      } catch (err) {
        if (err instanceof PhaseError) throw err;
        const message = (err as Error).message;
        if (message.toLowerCase().includes('no plugin instance')) {
          this.host.log('warn', this.name, message);
          this.resetInstances();
          continue;
        }
        // handle_event: kong.log.err(err) and the request goes on without this plugin
        this.host.log('err', this.name, message);
        this.rpc.reset();
        return;
      }
    }
  }

  private async bridgeLoop(iid: number, ctx: RequestContext, phase: string): Promise<void> {
    this.onEvent?.({ plugin: this.name, phase }, ctx);
    let stepIn = (await this.rpc.call('plugin.HandleEvent', { InstanceId: iid, EventName: phase })) as StepIn;
    const eventId = stepIn.EventId;
    while (stepIn.Data !== 'ret') {
      const { Method, Args } = stepIn.Data;
      await this.onPdkCall?.({ plugin: this.name, phase, method: Method }, ctx);
      let result: unknown;
      try {
        result = callPdk({ plugin: this.name, ctx, host: this.host }, Method, Args);
      } catch (err) {
        throw new PhaseError(`${Method}: ${(err as Error).message}`);
      }
      if (NON_RETURN.has(Method)) return;
      const stepMethod = STEP_METHOD_BY_PDK[Method] ?? 'plugin.Step';
      // mp_rpc: {EventId = ..., Data = ret}: a nil ret leaves no Data key, so the
      // plugin's call resolves to undefined
      const step = result === null || result === undefined ? { EventId: eventId } : { EventId: eventId, Data: result };
      stepIn = (await this.rpc.call(stepMethod, step)) as StepIn;
    }
  }
}
