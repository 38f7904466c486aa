import { randomUUID } from 'node:crypto';
import {
  buildOnce,
  checkInvariants,
  Client2,
  lastSeq,
  type Outcome,
  Postgres,
  Service,
  setUp,
  sleep,
  status,
} from './support/harness';

/**
 * Faults injected into real processes: the suite's own PostgreSQL server and the built service, driven
 * by clients that record every response and retry unknown outcomes with the same Idempotency-Key.
 */
describe('fault injection', () => {
  const pg = new Postgres();
  // What a client sees while the database is away: the un-held path. (DB_PRIMARY_WAIT_MS holds a money
  // request up to 10 s for a primary that moves; the Patroni scaling suite tests that hold.)
  const env = { DB_PRIMARY_WAIT_MS: '0' };
  let service: Service;
  let client: Client2;
  let users: Array<{ token: string; wallet: string }>;

  beforeAll(async () => {
    buildOnce();
    await pg.start();
    service = new Service(pg, env);
    await service.start();
    client = new Client2(() => service.url);
    ({ users } = await setUp(client, 6));
  });
  afterAll(async () => {
    service?.signal('SIGKILL');
    await pg.stopFast().catch(() => undefined);
  });

  /** `workers` clients sending transfers between random users until `ms` from now. */
  async function load(ms: number, workers = 6, seen: number[] = []): Promise<Outcome[]> {
    const until = Date.now() + ms;
    const outcomes: Outcome[] = [];
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        for (let i = 0; Date.now() < until; i++) {
          const from = users[(w + i) % users.length];
          const to = users[(w + i + 1 + (i % 3)) % users.length];
          if (from === to) continue;
          outcomes.push(await client.transfer(from.token, to.wallet, '0.0100', until + 20000, seen));
        }
      }),
    );
    return outcomes;
  }

  async function waitReady(): Promise<number> {
    const started = Date.now();
    while ((await status(`${service.url}/health/ready`)) !== 200) {
      if (Date.now() - started > 30000) throw new Error('service never became ready again');
      await sleep(100);
    }
    return Date.now() - started;
  }

  it.each([
    ['a fast restart', () => pg.stopFast()],
    ['an immediate (crash) stop', () => pg.crash()],
  ])(
    'survives %s of PostgreSQL mid-load: 503 with Retry-After, then recovery by itself',
    async (_name, stop) => {
      const seen: number[] = [];
      const since = await lastSeq(pg);
      const running = load(6000, 6, seen);
      await sleep(1500);
      await stop();
      // While the database is down: readiness is 503 and a transfer is refused with 503 and Retry-After.
      expect(await status(`${service.url}/health/ready`)).toBe(503);
      const during = await client.call(
        'POST',
        '/transfers',
        users[0].token,
        { toWalletId: users[1].wallet, amount: '0.0100', currency: 'USD' },
        randomUUID(),
      );
      expect(during.status).toBe(503);
      expect(Number(during.retryAfter)).toBeGreaterThan(0);
      await sleep(1000);
      await pg.start();
      const recoveredMs = await waitReady();
      // Reported figure: recovery after the database returns (the issue asks for under 5 s).
      process.stdout.write(`recovered ${recoveredMs} ms after PostgreSQL came back\n`);
      expect(recoveredMs).toBeLessThan(5000);
      const outcomes = await running;
      expect(seen).toContain(503);
      expect(outcomes.filter((o) => o.status === 201).length).toBeGreaterThan(0);
      await checkInvariants(pg, outcomes, since);
    },
  );

  it('on SIGTERM finishes in-flight transfers with their real result and exits 0', async () => {
    const since = await lastSeq(pg);
    const inFlight = Array.from({ length: 12 }, (_, i) =>
      client.call(
        'POST',
        '/transfers',
        users[i % users.length].token,
        { toWalletId: users[(i + 1) % users.length].wallet, amount: '0.0100', currency: 'USD' },
        randomUUID(),
      ),
    );
    await sleep(5);
    service.signal('SIGTERM');
    const results = await Promise.all(inFlight);
    const started = Date.now();
    expect(await service.exit).toBe(0);
    process.stdout.write(`exited ${Date.now() - started} ms after the last in-flight answer\n`);
    // Requests that reached the service before the signal got their real answer; none was cut off with a 500.
    expect(results.filter((r) => r.status >= 500 && r.status !== 503)).toEqual([]);
    expect(results.filter((r) => r.status === 201).length).toBeGreaterThan(0);
    expect(await status(`${service.url}/health/live`)).toBe(0);
    await service.start();
    const completed = results
      .filter((r) => r.status === 201)
      .map((r, i) => ({ key: String(i), status: 201, id: r.body.id as string, attempts: 1 }));
    await checkInvariants(pg, completed, since);
  });

  it('after SIGKILL mid-load and a restart, retried keys apply exactly once', async () => {
    const seen: number[] = [];
    const since = await lastSeq(pg);
    const running = load(5000, 6, seen);
    await sleep(1500);
    service.signal('SIGKILL');
    await service.exit;
    await sleep(500);
    await service.start();
    const outcomes = await running;
    expect(outcomes.filter((o) => o.attempts > 1).length).toBeGreaterThan(0);
    await checkInvariants(pg, outcomes, since);
  });

  it('keeps the invariants with two instances on one database', async () => {
    const second = new Service(pg, env);
    await second.start();
    try {
      const other = new Client2(() => second.url);
      const since = await lastSeq(pg);
      const until = Date.now() + 4000;
      const seen: number[] = [];
      const results = await Promise.all([
        load(4000, 4, seen),
        (async () => {
          const out: Outcome[] = [];
          for (let i = 0; Date.now() < until; i++) {
            out.push(
              await other.transfer(
                users[(i + 2) % 6].token,
                users[(i + 3) % 6].wallet,
                '0.0100',
                until + 20000,
                seen,
              ),
            );
          }
          return out;
        })(),
      ]);
      await checkInvariants(pg, results.flat(), since);
    } finally {
      second.signal('SIGTERM');
      await second.exit;
    }
  });
});
