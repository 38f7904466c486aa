import {
  connect,
  Events,
  type JetStreamClient,
  type JetStreamManager,
  nanos,
  type NatsConnection,
  type NatsError,
  type PubAck,
} from 'nats';

export interface PublisherSettings {
  /** NATS_URL: one server or a comma-separated list. */
  servers: string;
  stream: string;
  subjectPrefix: string;
  duplicateWindowMs: number;
  /** How long one PubAck may take before the publish counts as failed. */
  ackTimeoutMs: number;
}

/** What publishing a batch in order gave: acknowledgements of the leading events, and the first failure. */
export interface PublishOutcome {
  acks: PubAck[];
  error?: unknown;
}

const STREAM_NOT_FOUND = 10059;

/**
 * The JetStream side of the relay, with the official `nats` client: one connection that reconnects by
 * itself forever once made, the stream ensured after each (re)connection (a NATS server started afresh has
 * none), and publishes that wait for the stream's PubAck, each with `Nats-Msg-Id` = the event id so that
 * the stream's duplicate window drops a re-send.
 */
export class NatsPublisher {
  private nc?: NatsConnection;
  private js?: JetStreamClient;
  private connecting?: Promise<void>;
  private connected = false;
  private streamReady = false;
  private closed = false;

  constructor(
    private readonly settings: PublisherSettings,
    private readonly onConnection: (up: boolean) => void,
  ) {}

  get isConnected(): boolean {
    return this.connected;
  }

  /**
   * Connected with the stream in place, or an error saying why not. The first connection is tried once
   * per call (the caller backs off); later outages are the client's own reconnect loop.
   */
  async ready(): Promise<void> {
    if (this.closed) throw new Error('publisher closed');
    if (!this.nc) {
      this.connecting ??= this.open().finally(() => (this.connecting = undefined));
      await this.connecting;
    }
    if (!this.connected) throw new Error('NATS is not reachable (reconnecting)');
    if (!this.streamReady) {
      await this.ensureStream();
      this.streamReady = true;
    }
  }

  /**
   * Publishes the events in the order given. All are sent at once on the one connection (NATS keeps a
   * connection's order, so the stream stores them in this order) and each PubAck is awaited; the result
   * is the acknowledged prefix, and the first failure after it.
   */
  async publish(events: Array<{ id: string; type: string; body: string }>): Promise<PublishOutcome> {
    const js = this.js;
    if (!js) return { acks: [], error: new Error('not connected') };
    const { subjectPrefix, ackTimeoutMs } = this.settings;
    const settled = await Promise.allSettled(
      events.map((e) =>
        js.publish(`${subjectPrefix}.${e.type}`, Buffer.from(e.body), {
          msgID: e.id,
          timeout: ackTimeoutMs,
        }),
      ),
    );
    const acks: PubAck[] = [];
    for (const s of settled) {
      if (s.status === 'rejected') {
        // Perhaps the stream is gone (deleted, or a server started afresh without a disconnect seen):
        // the next pass checks it again and creates it when missing.
        this.streamReady = false;
        return { acks, error: s.reason };
      }
      acks.push(s.value);
    }
    return { acks };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.connecting?.catch(() => undefined);
    const nc = this.nc;
    this.nc = undefined;
    if (nc && !nc.isClosed()) await nc.close();
  }

  private async open(): Promise<void> {
    const nc = await connect({
      servers: this.settings.servers.split(',').map((s) => s.trim()),
      name: 'hfts-relay',
      timeout: 2000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // A half-open connection (a server that vanished without closing it) is noticed within ~20 s.
      pingInterval: 10000,
      maxPingOut: 2,
    });
    if (this.closed) {
      await nc.close();
      return;
    }
    this.nc = nc;
    this.js = nc.jetstream();
    this.setConnected(true);
    void this.watch(nc);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) this.setConnected(false);
      if (s.type === Events.Reconnect) this.setConnected(true);
    }
    // The connection is closed (close(), or the client gave up): the next ready() opens a new one.
    this.setConnected(false);
    if (this.nc === nc) this.nc = undefined;
  }

  private setConnected(up: boolean): void {
    if (!up) this.streamReady = false; // a server started afresh after an outage has no stream
    if (up !== this.connected) this.onConnection(up);
    this.connected = up;
  }

  /** The stream, created when missing; an existing one is left as its operator configured it. */
  private async ensureStream(): Promise<void> {
    if (!this.nc) throw new Error('not connected');
    const jsm: JetStreamManager = await this.nc.jetstreamManager({ timeout: this.settings.ackTimeoutMs });
    const { stream, subjectPrefix, duplicateWindowMs } = this.settings;
    try {
      await jsm.streams.info(stream);
      return;
    } catch (err) {
      if ((err as NatsError).api_error?.err_code !== STREAM_NOT_FOUND) throw err;
    }
    await jsm.streams.add({
      name: stream,
      subjects: [`${subjectPrefix}.>`],
      duplicate_window: nanos(duplicateWindowMs),
    });
  }
}
