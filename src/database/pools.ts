import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  DatabaseError,
  Pool,
  type PoolConfig,
  type QueryConfig,
  type QueryResult,
  type QueryResultRow,
} from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { MetricsService } from '../metrics/metrics.service';
import { buildDataSourceOptions, type DatabaseSettings } from './data-source-options';

/**
 * The pg pool behind TypeORM's DataSource, for the code that talks to PostgreSQL without TypeORM (the
 * engine's prepared statements, the read router, the pool metrics). The one place that reaches into the
 * driver, so that a TypeORM upgrade that moves it breaks one line.
 */
export function primaryPool(dataSource: DataSource): Pool {
  return (dataSource.driver as PostgresDriver).master as Pool;
}

/**
 * `pool.query`, except that a statement's own error (a conflict the engine raises on purpose, a unique
 * violation, a time-out) gives the connection back to the pool. pg-pool's `query` closes the connection
 * after ANY error, so every write conflict cost a new backend (fork, authentication, session settings,
 * the engine's statements prepared again): 400 opposite transfers with the queue off went from 26 s to
 * over 60 s. A connection that is really lost (08xxx, 57P0x, XX000, or not an error of the server) is
 * still closed.
 */
export async function queryKeepingConnection<T extends QueryResultRow>(
  pool: Pool,
  query: QueryConfig,
): Promise<QueryResult<T>> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A connection lost while checked out is reported as an 'error' event too (pg-pool listens only to
  // idle clients): without a listener, as pg-pool's own query has, that event would end the process.
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    return await client.query<T>(query);
  } catch (err) {
    if (!isStatementError(err)) broken ??= err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

/** An error the server raised for one statement, after which the session is still usable. */
function isStatementError(err: unknown): boolean {
  if (!(err instanceof DatabaseError) || !err.code) return false;
  return !/^(08|57P|XX)/.test(err.code);
}

/**
 * primaryPool as a provider, for services that need the pool and not the DataSource; it hands the pool to
 * the metrics (connections, query durations) once, as the one provider of it (ReplicasModule).
 */
@Injectable()
export class PrimaryPool {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    metrics: MetricsService,
  ) {
    metrics.watchPool(this.pool);
  }

  get pool(): Pool {
    return primaryPool(this.dataSource);
  }
}

/**
 * Options for a pool of its own on the primary, with every setting of the service's connections (the
 * per-session guards, the role switch, the primary locator when POSTGRES_HOST lists several servers).
 */
export function primaryPoolConfig(
  settings: DatabaseSettings,
  max: number,
  applicationName: string,
): PoolConfig {
  const o = buildDataSourceOptions({ ...settings, poolSize: max }) as PostgresConnectionOptions;
  return { ...serverOf(o, applicationName), ...(o.extra as PoolConfig) };
}

/** Where TypeORM's options connect, and as whom, as pg's PoolConfig spells it, named `applicationName`. */
function serverOf(o: PostgresConnectionOptions, applicationName: string): PoolConfig {
  return {
    host: o.host,
    port: o.port,
    user: o.username,
    password: typeof o.password === 'string' ? o.password : undefined,
    database: o.database,
    application_name: applicationName,
  };
}

/**
 * A small pool of its own on the database the DataSource uses, as the same role and with the same session
 * options, for background work (the NATS relay, the ledger's appender) that must never wait for a
 * connection a money movement needs, nor hold one of theirs. With a POSTGRES_HOST list it uses the primary
 * locator's Client, so it follows a failover too.
 */
export function sameDatabasePool(dataSource: DataSource, applicationName: string, max: number): Pool {
  const o = dataSource.options as PostgresConnectionOptions;
  const extra = (o.extra ?? {}) as Pick<PoolConfig, 'Client' | 'connectionTimeoutMillis'> & {
    options?: string;
  };
  const pool = new Pool({
    ...serverOf(o, applicationName),
    Client: extra.Client,
    options: extra.options,
    connectionTimeoutMillis: extra.connectionTimeoutMillis ?? 5000,
    keepAlive: true,
    max,
    idleTimeoutMillis: 30000,
  });
  // An idle client whose server went away emits 'error' on the pool; the next checkout reconnects.
  pool.on('error', () => undefined);
  return pool;
}
