import { IsEmail, IsIn, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { DatabaseSettings } from './database.settings';
import { BoolSetting, IntSetting, OptionalSetting } from './setting.decorators';
import { validateSettings } from './validate-settings';

/**
 * Every environment variable the service reads, with its default (those of the database connection in
 * database.settings.ts). Validated once at start-up (see loadConfig). Two exceptions read process.env
 * themselves: the fault tests' hooks (test-hooks.ts, only when NODE_ENV=test, never part of this
 * schema) and OpenTelemetry's standard OTEL_* variables, which src/tracing-sdk.ts and the OTel SDK read
 * before any module of the app is loaded (the SDK must patch http, fastify and pg before they are
 * required, so it cannot wait for this schema; docs/OBSERVABILITY.md lists them).
 */
export class EnvironmentVariables extends DatabaseSettings {
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  @IntSetting(0, 65535)
  PORT = 3000;

  @IsString()
  HOST = '0.0.0.0';

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

  // CSV exports (src/transfers/csv-exports.ts): at most this many streaming at once per user and per
  // instance (the instance's own export pool has that many connections); past it, 429 with Retry-After. An
  // export whose reader stops draining its socket for EXPORT_STALL_TIMEOUT_MS is cut off.
  @IntSetting(1, 100)
  EXPORTS_PER_USER = 2;

  @IntSetting(1, 100)
  EXPORTS_PER_INSTANCE = 4;

  @IntSetting(1000, 3600000)
  EXPORT_STALL_TIMEOUT_MS = 10000;

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
  // and link-local targets (tests, local receivers). DISPATCHER off: this instance only serves the API and
  // delivers nothing (another instance does). The retry schedule's scale is a test hook (test-hooks.ts).
  @BoolSetting()
  WEBHOOK_ALLOW_PRIVATE = false;

  @IntSetting(100, 60000)
  WEBHOOK_TIMEOUT_MS = 10000;

  // A receiver that does not accept the connection (TCP, and TLS for https) within this fails the attempt
  // sooner than WEBHOOK_TIMEOUT_MS: slow receivers hold their slots for less (issue 21, item 4).
  @IntSetting(100, 60000)
  WEBHOOK_CONNECT_TIMEOUT_MS = 3000;

  // One or two: an endpoint's backlog then never takes many of the instance's slots, whatever its speed.
  @IntSetting(1, 100)
  WEBHOOK_ENDPOINT_CONCURRENCY = 2;

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

  // The verifiable ledger (src/ledger, docs/LEDGER.md). APPENDER off: this instance appends no leaves and
  // signs no checkpoints (another does; with it off everywhere the tree stops growing). The signing key is a
  // Go sumdb/note signer key, PRIVATE+KEY+<name>+<key id>+<base64>; unset: one generated at first start and
  // kept in the database. ORIGIN is the first line of every checkpoint (and a generated key's name).
  @BoolSetting()
  LEDGER_APPENDER = true;

  @IntSetting(10, 1000)
  LEDGER_APPEND_INTERVAL_MS = 200;

  @OptionalSetting(
    Matches(/^PRIVATE\+KEY\+[^\s+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/, {
      message:
        'LEDGER_SIGNING_KEY must be a signer key PRIVATE+KEY+<name>+<key id>+<base64> (docs/LEDGER.md)',
    }),
  )
  LEDGER_SIGNING_KEY?: string;

  @Matches(/^[A-Za-z0-9][A-Za-z0-9._/:-]{0,254}$/, {
    message: 'LEDGER_ORIGIN must be a log name such as example.com/hfts/ledger (letters, digits, . _ / : -)',
  })
  LEDGER_ORIGIN = 'hfts.local/ledger';

  // Prefix of the rate-limit keys in Redis: instances sharing limits must share it.
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  RATE_LIMIT_REDIS_PREFIX = 'hfts:rl:';
}

/** Validates the environment; throws one ConfigError whose message has one line per bad variable. */
export function validateEnv(env: Record<string, string | undefined>): EnvironmentVariables {
  return validateSettings(EnvironmentVariables, env);
}
