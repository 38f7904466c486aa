import { Injectable, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Client, type ClientConfig } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import { AppConfig } from '../../config/app-config';

/** The channel the sequencer notifies (payload: the highest sequence it gave) after a run that numbered events. */
export const EVENTS_CHANNEL = 'hfts_events';
/** Reconnection of a lost listening connection: from this, doubling, up to the cap. */
const RETRY_FIRST_MS = 500;
const RETRY_CAP_MS = 30000;

/**
 * Wakes the readers of numbered events (the NATS relay, the webhook dispatcher) when the sequencer has
 * numbered new ones, so that they need not poll (issue 26: an idle instance must cost the database almost
 * nothing). One dedicated connection per instance LISTENs on `hfts_events`, opened when the first reader
 * subscribes; never through a transaction pooler (DB_POOLER=transaction), where LISTEN does not work: there
 * `listening` stays false and the readers back off to at most one probe a second instead.
 *
 * A lost connection is opened again with backoff; each (re)connection wakes the readers too, since a
 * notification sent while it was down is lost.
 */
@Injectable()
export class EventWakeups implements OnApplicationShutdown {
  private readonly logger = new Logger(EventWakeups.name);
  private readonly readers: Array<() => void> = [];
  private client?: Client;
  private started = false;
  private stopped = false;
  private retryMs = RETRY_FIRST_MS;
  private retryTimer?: NodeJS.Timeout;
  private up = false;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
  ) {}

  /** Whether notifications arrive now: readers that see false poll (at most once a second) instead. */
  get listening(): boolean {
    return this.up;
  }

  /** `wake` runs on every notification and after every (re)connection of the listening connection. */
  subscribe(wake: () => void): void {
    this.readers.push(wake);
    if (this.started || this.config.env.DB_POOLER === 'transaction') return;
    this.started = true;
    void this.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.up = false;
    await this.client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new (this.clientClass())(this.clientConfig());
    this.client = client;
    // A server that goes away is an 'error' on the client: without a listener it would end the process.
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => {
      if (n.channel === EVENTS_CHANNEL) this.wakeAll();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (err) {
      this.logger.warn(`listening for new events failed, polling meanwhile: ${message(err)}`);
      this.lost(client);
      return;
    }
    if (this.stopped || this.client !== client) return;
    this.up = true;
    this.retryMs = RETRY_FIRST_MS;
    this.wakeAll();
  }

  private lost(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.up = false;
    void client.end().catch(() => undefined);
    if (this.stopped) return;
    this.retryTimer = setTimeout(() => void this.connect(), this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(RETRY_CAP_MS, this.retryMs * 2);
  }

  private wakeAll(): void {
    for (const wake of this.readers) wake();
  }

  private clientClass(): typeof Client {
    const extra = (this.dataSource.options as PostgresConnectionOptions).extra as
      { Client?: typeof Client } | undefined;
    // A POSTGRES_HOST list: the primary locator's Client, so the listener follows a failover too.
    return extra?.Client ?? Client;
  }

  private clientConfig(): ClientConfig {
    const o = this.dataSource.options as PostgresConnectionOptions;
    const extra = (o.extra ?? {}) as { options?: string; connectionTimeoutMillis?: number };
    return {
      host: o.host,
      port: o.port,
      user: o.username,
      password: typeof o.password === 'string' ? o.password : undefined,
      database: o.database,
      application_name: 'hfts-events-listener',
      options: extra.options,
      connectionTimeoutMillis: extra.connectionTimeoutMillis ?? 5000,
      keepAlive: true,
    };
  }
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** One listener per application: imported by the relay's module and by the webhooks'. */
@Module({ providers: [EventWakeups], exports: [EventWakeups] })
export class EventWakeupsModule {}
