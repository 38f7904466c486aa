import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import Piscina from 'piscina';
import { AppError } from '../common/errors/error-codes';
import { AppConfig } from '../config/app-config';

/** bcrypt reads at most 72 bytes; longer passwords are refused before they get here, never truncated. */
export const PASSWORD_MAX_BYTES = 72;
export const PASSWORD_MIN_CHARS = 8;

/** Beside this file in src/auth/ (ts-jest) and in dist/src/auth/ (copied by nest build). */
const WORKER_FILE = join(__dirname, 'password-hash.worker.js');

type Task =
  { op: 'hash'; password: string; cost: number } | { op: 'compare'; password: string; hash: string };
type Answer = { result: string | boolean; error?: undefined } | { error: string };

const stopped = (): Error => new Error('password hasher stopped');

/**
 * bcrypt hashing and verification on a pool of worker threads (piscina; the task is password-hash.worker.js).
 *
 * Why not bcryptjs's async API on the main thread: it hashes in 100 ms slices scheduled with
 * setImmediate (MAX_EXECUTION_TIME in bcryptjs), and concurrent logins' slices all run back to back in
 * one turn of the event loop. Measured in the app on this 2-core machine, cost 12, 30 concurrent logins:
 * event-loop delay p50 284 ms, max 702 ms, and a GET /users/me issued during the burst waited 8.6 s.
 * On a pool of worker threads (same burst, measured with the hand-written pool piscina replaced, which
 * ran the same one task per thread): event-loop delay p50 5.6 ms, p99 17 ms, max 31 ms, GET /users/me p99
 * 21 ms, against p99 11 ms and 12 ms with no logins at all. Logins queue for a worker; everything else
 * keeps being answered (test/unit/auth-password-hasher.spec.ts checks the loop stays free).
 */
@Injectable()
export class PasswordHasher implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(PasswordHasher.name);
  private readonly cost: number;
  private readonly size: number;
  /** Beyond this many waiting tasks a login is refused with 503 rather than queued for ever. */
  private readonly maxQueue: number;
  private pool?: Piscina<Task, Answer>;
  /** Tasks asked for before the pool starts (onModuleInit) wait for it, and count against the bound. */
  private early = 0;
  private readonly started: Promise<Piscina<Task, Answer>>;
  private start!: (pool: Piscina<Task, Answer>) => void;
  private abandon!: (err: Error) => void;
  private closed = false;
  private dummyHash?: Promise<string>;

  constructor(config: AppConfig) {
    this.cost = config.env.BCRYPT_COST;
    this.size = config.env.PASSWORD_HASH_WORKERS || availableParallelism();
    this.maxQueue = 32 * this.size;
    this.started = new Promise((resolve, reject) => {
      this.start = resolve;
      this.abandon = reject;
    });
    this.started.catch(() => undefined);
  }

  onModuleInit(): void {
    // A fixed pool, started with the module; piscina replaces a worker that dies, and unrefs idle ones
    // so that the pool never keeps a process alive on its own (a test that forgets to close the app).
    this.pool = new Piscina<Task, Answer>({
      filename: WORKER_FILE,
      minThreads: this.size,
      maxThreads: this.size,
    });
    // A worker's failure outside a task (its task, if any, already failed): logged, never thrown.
    this.pool.on('error', (err: unknown) => this.logger.error({ err }, 'password hashing worker failed'));
    this.start(this.pool);
    // A hash of a random password at the configured cost: verifying an unknown email against it
    // spends the same time as verifying a real one, so timing does not tell which emails exist.
    this.dummyHash = this.hash(randomBytes(18).toString('base64'));
    this.dummyHash.catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    this.abandon(stopped());
    await this.pool?.destroy();
  }

  get workers(): number {
    return this.size;
  }

  async hash(password: string): Promise<string> {
    return (await this.run({ op: 'hash', password, cost: this.cost })) as string;
  }

  async verify(password: string, hash: string): Promise<boolean> {
    return (await this.run({ op: 'compare', password, hash })) as boolean;
  }

  /** Spends the time of a real verification, and always fails. */
  async verifyAgainstDummy(password: string): Promise<false> {
    await this.verify(password, await (this.dummyHash ?? this.hash('dummy')));
    return false;
  }

  private async run(task: Task): Promise<string | boolean> {
    // Checked before the first await, so the bound holds for a burst arriving in one turn of the loop.
    if (this.closed) throw stopped();
    if ((this.pool ? this.pool.queueSize : this.early) >= this.maxQueue) {
      throw new AppError('SERVICE_UNAVAILABLE', 'Too many logins at once; retry shortly', { retryAfter: 1 });
    }
    let answer: Answer;
    try {
      answer = await (this.pool ?? (await this.waitForStart())).run(task);
    } catch (err) {
      // Tasks still queued or running when the pool is destroyed fail as stopped, not as piscina words it.
      if (this.closed) throw stopped();
      throw err;
    }
    if (answer.error !== undefined) throw new Error(`bcrypt: ${answer.error}`);
    return answer.result;
  }

  private async waitForStart(): Promise<Piscina<Task, Answer>> {
    this.early += 1;
    try {
      return await this.started;
    } finally {
      this.early -= 1;
    }
  }
}
