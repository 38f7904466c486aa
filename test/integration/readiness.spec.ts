import { type ChildProcess, spawn } from 'node:child_process';
import request from 'supertest';
import { freePort } from '../../scripts/lib/free-port.cjs';
import { startTestApp, type TestApp } from '../support/app';
import { createTestDatabase, dropTestDatabase } from '../support/database';

/** The real Redis of the machine (or the one named by TEST_REDIS_HOST / TEST_REDIS_PORT). */
const REDIS_HOST = process.env.TEST_REDIS_HOST ?? '127.0.0.1';
const REDIS_PORT = process.env.TEST_REDIS_PORT ?? '6379';

/** A redis-server of the test's own, on a port nothing else uses, so that it can be killed. */
async function startRedis(port: number): Promise<ChildProcess> {
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((ready, fail) => {
    proc.stdout?.on('data', (d: Buffer) => d.toString().includes('Ready to accept connections') && ready());
    proc.on('exit', (code) => fail(new Error(`redis-server exited with ${code}`)));
  });
  return proc;
}

async function stopRedis(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((done) => proc.once('exit', done));
  proc.kill('SIGKILL');
  await exited;
}

async function redisGauge(t: TestApp): Promise<string | undefined> {
  const res = await request(t.server).get('/metrics').expect(200);
  return /^redis_up (\S+)$/m.exec(res.text)?.[1];
}

/** Polls readiness until `predicate` holds (or a deadline passes), and returns the last response. */
async function readyUntil(t: TestApp, predicate: (res: request.Response) => boolean) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const res = await request(t.server).get('/health/ready');
    if (predicate(res) || Date.now() > deadline) return res;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const redisIs =
  (status: 'up' | 'down') =>
  (res: request.Response): boolean =>
    (res.body as { details?: { redis?: { status?: string } } }).details?.redis?.status === status;

describe('readiness with the optional Redis', () => {
  it('without REDIS_HOST: no Redis in the body and no redis_up gauge', async () => {
    const t = await startTestApp();
    try {
      const res = await request(t.server).get('/health/ready').expect(200);
      expect(res.body.details.redis).toBeUndefined();
      expect(await redisGauge(t)).toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it('with Redis up: 200, Redis reported up, redis_up 1', async () => {
    const t = await startTestApp({ REDIS_HOST, REDIS_PORT });
    try {
      const res = await readyUntil(t, redisIs('up'));
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('ok');
      expect(res.body.info.redis.status).toBe('up');
      expect(res.body.details.database.status).toBe('up');
      expect(await redisGauge(t)).toBe('1');
    } finally {
      await t.close();
    }
  });

  it('with Redis unreachable from the start: still 200, Redis reported down, redis_up 0', async () => {
    const t = await startTestApp({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(await freePort()) });
    try {
      const res = await request(t.server).get('/health/ready').expect(200);
      expect(res.body.status).toBe('ok');
      expect(res.body.details.redis.status).toBe('down');
      expect(res.body.details.database.status).toBe('up');
      expect(res.body.error).toEqual({});
      expect(await redisGauge(t)).toBe('0');
    } finally {
      await t.close();
    }
  });

  it('when Redis dies and comes back: readiness stays 200 and follows it, and so does redis_up', async () => {
    const port = await freePort();
    let redis = await startRedis(port);
    const t = await startTestApp({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(port) });
    try {
      expect((await readyUntil(t, redisIs('up'))).status).toBe(200);
      expect(await redisGauge(t)).toBe('1');

      await stopRedis(redis);
      const down = await readyUntil(t, redisIs('down'));
      expect(down.status).toBe(200);
      expect(down.body.details.redis.status).toBe('down');
      expect(await redisGauge(t)).toBe('0');

      redis = await startRedis(port);
      const back = await readyUntil(t, redisIs('up'));
      expect(back.status).toBe(200);
      expect(back.body.details.redis.status).toBe('up');
      expect(await redisGauge(t)).toBe('1');
    } finally {
      await t.close();
      await stopRedis(redis);
    }
  });

  it('still answers 503 when the database is gone, whatever Redis does', async () => {
    const db = await createTestDatabase();
    const t = await startTestApp({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(await freePort()) }, db);
    // Dropping the database terminates the test's own connection too: that error is expected.
    t.sql.on('error', () => undefined);
    try {
      await request(t.server).get('/health/ready').expect(200);
      await dropTestDatabase(db.database);
      const res = await readyUntil(t, (r) => r.status !== 200);
      expect(res.status).toBe(503);
    } finally {
      await t.close();
    }
  });
});
