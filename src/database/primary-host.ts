import { Logger } from '@nestjs/common';
import { Client, type ClientConfig } from 'pg';

/** One PostgreSQL server of a list (`POSTGRES_HOST`, `POSTGRES_REPLICA_HOSTS`). */
export interface HostPort {
  host: string;
  port: number;
}

/** A comma-separated `host[:port]` list (`[v6]:port` for IPv6), each without a port on `defaultPort`. */
export function parseHostList(list: string, defaultPort: number): HostPort[] {
  return list
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0)
    .map((item) => {
      const v6 = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(item);
      if (v6) return { host: v6[1], port: v6[2] ? Number(v6[2]) : defaultPort };
      const plain = /^([^:]+)(?::(\d{1,5}))?$/.exec(item);
      if (plain) return { host: plain[1], port: plain[2] ? Number(plain[2]) : defaultPort };
      // A bare IPv6 address: no port can be told apart from it.
      return { host: item, port: defaultPort };
    });
}

export const hostName = (h: HostPort): string => `${h.host}:${h.port}`;

/** A connection failure (SQLSTATE class 08), so that pg-errors.ts answers 503 with Retry-After. */
function noPrimary(message: string): Error {
  return Object.assign(new Error(message), { code: '08006' });
}

/**
 * Which server of a `POSTGRES_HOST` list is the primary: the first, in list order, where
 * `pg_is_in_recovery()` is false. pg has no multi-host connection strings (libpq's target_session_attrs),
 * so the choice is made here, at connect time, and remembered until a connection to it fails or finds it in
 * recovery; the next connection then asks every server again (one probe at a time, shared by all waiters).
 * Fencing an old primary that comes back writable is the failover manager's job (Patroni, pg_auto_failover):
 * this only follows the servers' own answer.
 */
export class PrimaryLocator {
  private current?: HostPort;
  /** The primary last found, to log a switch. */
  private last?: HostPort;
  private probing?: Promise<HostPort>;
  private readonly logger = new Logger('Database');

  constructor(
    readonly hosts: HostPort[],
    private readonly login: Pick<ClientConfig, 'user' | 'password' | 'database'> & {
      connectTimeoutMs: number;
    },
  ) {}

  /** The primary, probing the list when none is known. Rejects with a 08006 error when none answers as one. */
  primary(): Promise<HostPort> {
    if (this.current) return Promise.resolve(this.current);
    this.probing ??= this.probe().finally(() => (this.probing = undefined));
    return this.probing;
  }

  /** A connection to `host` failed or found it in recovery: ask the list again next time. */
  forget(host: HostPort): void {
    if (this.current && hostName(this.current) === hostName(host)) this.current = undefined;
  }

  private async probe(): Promise<HostPort> {
    const answers = await Promise.all(this.hosts.map((h) => this.inRecovery(h)));
    const index = answers.findIndex((recovering) => recovering === false);
    if (index < 0) {
      const seen = this.hosts.map((h, i) => `${hostName(h)}: ${describe(answers[i])}`).join(', ');
      throw noPrimary(`no primary among ${seen}`);
    }
    const found = this.hosts[index];
    if (!this.last || hostName(this.last) !== hostName(found))
      this.logger.warn(`primary is ${hostName(found)}${this.last ? ` (was ${hostName(this.last)})` : ''}`);
    this.last = found;
    this.current = found;
    return found;
  }

  /** true, false, or the error that kept the server from answering. */
  private async inRecovery(h: HostPort): Promise<boolean | Error> {
    const client = new Client({
      ...this.login,
      host: h.host,
      port: h.port,
      connectionTimeoutMillis: this.login.connectTimeoutMs,
      application_name: 'hfts-primary-probe',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      return rows[0].r;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

function describe(answer: boolean | Error): string {
  return answer instanceof Error ? answer.message : answer ? 'in recovery' : 'primary';
}

const locators = new Map<string, PrimaryLocator>();

/**
 * The pg Client class for a pool on a host list (`extra.Client` of TypeORM's options, which it hands to pg's
 * Pool): each new connection goes to the locator's primary and checks, once, that it is not in recovery, so
 * that after a failover the pool's next connections reach the promoted server by themselves. Locators are
 * shared per list, so the migration run and the service's pool agree on the primary.
 */
export function primaryClientClass(
  hosts: HostPort[],
  login: ConstructorParameters<typeof PrimaryLocator>[1],
): typeof Client {
  const id = `${hosts.map(hostName).join(',')}/${login.database ?? ''}/${login.user ?? ''}`;
  let locator = locators.get(id);
  if (!locator) {
    locator = new PrimaryLocator(hosts, login);
    locators.set(id, locator);
  }
  const shared = locator;

  return class PrimaryClient extends Client {
    override connect(): Promise<Client>;
    override connect(callback: (err: Error) => void): void;
    override connect(callback?: (err: Error) => void): Promise<Client> | void {
      const done = this.connectToPrimary();
      if (!callback) return done;
      done.then(
        () => callback(undefined as unknown as Error),
        (err: Error) => callback(err),
      );
    }

    private async connectToPrimary(): Promise<Client> {
      const target = await shared.primary();
      // pg reads host and port from these fields when it opens the socket.
      Object.assign(this, { host: target.host, port: target.port });
      // pg's Pool listens for errors only once connect() has called back: until then, a server dying
      // under this new connection (FATAL 57P01) would be an unhandled 'error' event. The check's own
      // query still fails with it.
      const untilPooled = (): void => undefined;
      this.on('error', untilPooled);
      try {
        await super.connect();
        const { rows } = await this.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        if (rows[0].r) throw noPrimary(`${hostName(target)} is in recovery (not the primary)`);
        this.off('error', untilPooled);
        return this;
      } catch (err) {
        shared.forget(target);
        // A socket that never opened may never report its end: do not wait on it for long.
        await Promise.race([this.end().catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
        throw err;
      }
    }
  };
}
