/**
 * The mock OpenAI upstream as tests see it, in either mode of the suite: in-process
 * (LocalUpstream, with the bridge) or as the docker-compose container behind a real
 * Kong (RemoteUpstream, over the mock's /__mock/ control API). Everything is async
 * so that tests are written once for both.
 */
import { MockOpenAI, type FailureSpec, type RecordedRequest } from '../mock-openai/server';

export type { FailureSpec, RecordedRequest };

/** Control and inspection of the mock upstream, shared by both modes. */
export interface UpstreamMock {
  /** Base URL the gateway's service should point at (for the bridge: serviceUrls). */
  readonly url: string;
  /** The requests received since start or the last reset, oldest first (a snapshot). */
  recorded(): Promise<RecordedRequest[]>;
  /** Forgets the recorded requests and all injected behaviour. */
  reset(): Promise<void>;
  /** The next `n` requests answer with the failure `spec`. */
  failNext(n: number, spec: FailureSpec): Promise<void>;
  /** Delay before the first byte of every answer. */
  setLatency(ms: number): Promise<void>;
  /** Delay between two SSE events of a stream. */
  setChunkDelay(ms: number): Promise<void>;
  /** Stops a mock this object started; a no-op for a mock it does not own. */
  close(): Promise<void>;
}

/** An in-process MockOpenAI on 127.0.0.1 and a free port. */
export class LocalUpstream implements UpstreamMock {
  private constructor(
    /** The mock itself, for tests that need more than the shared interface. */
    readonly mock: MockOpenAI,
    readonly url: string,
  ) {}

  /** Starts a new mock and resolves once it listens. */
  static async start(): Promise<LocalUpstream> {
    const mock = new MockOpenAI();
    return new LocalUpstream(mock, await mock.start(0, '127.0.0.1'));
  }

  async recorded(): Promise<RecordedRequest[]> {
    // A copy: reset() empties the mock's array in place, which would empty the caller's too.
    return [...this.mock.requests];
  }

  async reset(): Promise<void> {
    this.mock.reset();
  }

  async failNext(n: number, spec: FailureSpec): Promise<void> {
    this.mock.failNext(n, spec);
  }

  async setLatency(ms: number): Promise<void> {
    this.mock.setLatency(ms);
  }

  async setChunkDelay(ms: number): Promise<void> {
    this.mock.setChunkDelay(ms);
  }

  close(): Promise<void> {
    return this.mock.stop();
  }
}

/** A mock started elsewhere with MOCK_CONTROL=on (the docker-compose container), driven over HTTP. */
export class RemoteUpstream implements UpstreamMock {
  readonly url: string;

  /** `url`: the mock's base URL, e.g. "http://mock-openai:8080". */
  constructor(url: string) {
    this.url = url.replace(/\/+$/, '');
  }

  async recorded(): Promise<RecordedRequest[]> {
    const records = await this.call('GET', 'requests');
    if (!Array.isArray(records)) throw new Error('mock-openai control: /__mock/requests did not answer an array');
    // JSON drops `json: undefined`; put it back so records look the same in both modes.
    return (records as RecordedRequest[]).map((r) => ({ ...r, json: r.json }));
  }

  async reset(): Promise<void> {
    await this.call('POST', 'reset');
  }

  async failNext(n: number, spec: FailureSpec): Promise<void> {
    await this.call('POST', 'fail', { n, spec });
  }

  async setLatency(ms: number): Promise<void> {
    await this.call('POST', 'latency', { ms });
  }

  async setChunkDelay(ms: number): Promise<void> {
    await this.call('POST', 'chunk-delay', { ms });
  }

  /** Nothing to do: the container's lifetime is docker-compose's business. */
  async close(): Promise<void> {}

  private async call(method: 'GET' | 'POST', op: string, body?: object): Promise<unknown> {
    const res = await fetch(`${this.url}/__mock/${op}`, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      // A mock that does not answer should fail the test with this message, not the Jest timeout.
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) {
      // A 404 here almost always means the mock runs without its control API.
      const hint = res.status === 404 ? ' (is the mock running with MOCK_CONTROL=on?)' : '';
      throw new Error(`mock-openai control ${method} /__mock/${op}: ${res.status} ${text}${hint}`);
    }
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }
}

/** RemoteUpstream when MOCK_OPENAI_URL is set, else a started LocalUpstream. */
export async function startUpstream(): Promise<UpstreamMock> {
  const remote = process.env.MOCK_OPENAI_URL;
  return remote ? new RemoteUpstream(remote) : LocalUpstream.start();
}
