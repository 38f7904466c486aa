import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import Big from 'big.js';
import { MONEY_INVARIANTS } from '../../scripts/lib/invariants-sql.cjs';
import type { DatabaseTarget } from '../../src/config/app-config';
import { createTestDatabase, dropTestDatabase } from '../support/database';
import { HaProxy } from './support/haproxy';
import { metricTotal, SCALING_ADMIN, ServiceProcess } from './support/service-process';

/**
 * Two real service processes on one database behind a real haproxy. Transfers with Idempotency-Keys go
 * through haproxy; one instance is killed with SIGKILL mid-load; the client retries every request
 * whose outcome it does not know with the same key. Every invariant holds, every key applied once, and
 * both instances served transfers.
 */
const USERS = 10;
const TRANSFERS = 400;
const WORKERS = 16;
const KILL_AFTER = 120;
const RETRY_FOR_MS = 60000;

interface Party {
  token: string;
  wallet: string;
}
interface Outcome {
  key: string;
  from: number;
  to: number;
  amount: string;
  status: number;
  id?: string;
  attempts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('two instances behind haproxy, one killed with SIGKILL mid-load', () => {
  let db: DatabaseTarget;
  let sql: Client;
  const instances: ServiceProcess[] = [];
  const lb = new HaProxy();

  beforeAll(async () => {
    db = await createTestDatabase();
    sql = new Client(db);
    await sql.connect();
    for (let i = 0; i < 2; i++) {
      const s = new ServiceProcess(db, { DB_POOL_SIZE: '8' });
      instances.push(s);
      await s.start();
    }
    await lb.start(instances.map((s) => s.port));
  });
  afterAll(async () => {
    await lb.stop();
    for (const s of instances) await s.stop();
    await sql?.end();
    if (db) await dropTestDatabase(db.database);
  });

  const call = async (
    method: string,
    path: string,
    token?: string,
    body?: unknown,
    key?: string,
  ): Promise<{ status: number; body: Record<string, unknown>; replayed: boolean }> => {
    try {
      const res = await fetch(`${lb.url}/api/v1${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(key ? { 'idempotency-key': key } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(20000),
      });
      const text = await res.text();
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // haproxy's own error pages are HTML
      }
      return { status: res.status, body: json, replayed: res.headers.get('idempotent-replayed') === 'true' };
    } catch {
      return { status: 0, body: {}, replayed: false };
    }
  };

  /** Register, log in, open a wallet, fund it: through haproxy. */
  async function party(admin: string): Promise<Party> {
    const email = `s${randomUUID().slice(0, 12)}@example.com`;
    const password = 'scaling suite password';
    expect((await call('POST', '/auth/register', undefined, { email, password, fullName: 'S' })).status).toBe(
      201,
    );
    const token = (await call('POST', '/auth/login', undefined, { email, password })).body
      .accessToken as string;
    const wallet = (await call('POST', '/wallets', token, { currency: 'USD' })).body.id as string;
    const dep = await call(
      'POST',
      `/admin/wallets/${wallet}/deposits`,
      admin,
      { amount: '1000', currency: 'USD' },
      randomUUID(),
    );
    expect(dep.status).toBe(201);
    return { token, wallet };
  }

  /** The outcome is unknown (no answer, haproxy's 502/503/504, a key still in progress): same key again. */
  const unknown = (status: number) => status === 0 || status >= 502 || status === 409;

  it('keeps every invariant, applies every retried key once, and both instances served', async () => {
    const admin = (await call('POST', '/auth/login', undefined, SCALING_ADMIN)).body.accessToken as string;
    expect(admin).toEqual(expect.any(String));
    const parties: Party[] = [];
    for (let i = 0; i < USERS; i++) parties.push(await party(admin));
    const since = (
      await sql.query<{ s: string }>(`SELECT COALESCE(max(seq), 0)::text AS s FROM transactions`)
    ).rows[0].s;

    const outcomes: Outcome[] = [];
    let next = 0;
    let done = 0;
    let victimMetrics = '';
    let killed: Promise<void> | undefined;
    const victim = instances[1];
    const worker = async () => {
      while (next < TRANSFERS) {
        const n = next++;
        const from = n % USERS;
        const to = (from + 1 + (n % (USERS - 1))) % USERS;
        const o: Outcome = {
          key: randomUUID(),
          from,
          to,
          amount: `0.${String((n % 97) + 1).padStart(2, '0')}`,
          status: 0,
          attempts: 0,
        };
        const body = { toWalletId: parties[to].wallet, amount: o.amount, currency: 'USD' };
        const until = Date.now() + RETRY_FOR_MS;
        for (;;) {
          o.attempts++;
          const r = await call('POST', '/transfers', parties[from].token, body, o.key);
          o.status = r.status;
          o.id = r.body.id as string | undefined;
          if (!unknown(r.status) || Date.now() > until) break;
          await sleep(100);
        }
        outcomes.push(o);
        if (++done === KILL_AFTER && !killed) {
          // Mid-load: the other workers have requests in flight on both instances.
          killed = victim.metrics().then(async (text) => {
            victimMetrics = text;
            await victim.kill();
          });
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    await killed;

    // The kill happened, and hit requests in flight: some needed the same key again.
    expect(victimMetrics).not.toBe('');
    expect(() => process.kill(victim.pid!, 0)).toThrow();
    expect(outcomes.filter((o) => o.attempts > 1).length).toBeGreaterThan(0);
    // Every transfer ended known and applied.
    expect(outcomes.filter((o) => o.status !== 201).map((o) => [o.status, o.attempts])).toEqual([]);

    // Both instances served transfers: the victim before it died, the survivor throughout.
    const survivorMetrics = await instances[0].metrics();
    for (const text of [victimMetrics, survivorMetrics])
      expect(metricTotal(text, 'money_movements_total', { type: 'transfer', status: '201' })).toBeGreaterThan(
        0,
      );

    // Every invariant, straight from the tables.
    for (const { name, sql: check } of MONEY_INVARIANTS)
      expect({ [name]: (await sql.query(check)).rows }).toEqual({ [name]: [] });

    // Every key applied once: one transaction per key, each COMPLETED, no other transfer written.
    const ids = outcomes.map((o) => o.id);
    expect(new Set(ids).size).toBe(TRANSFERS);
    const written = await sql.query<{ id: string; status: string }>(
      `SELECT id, status FROM transactions WHERE type = 'TRANSFER' AND seq > $1`,
      [since],
    );
    expect(written.rows.length).toBe(TRANSFERS);
    expect(new Set(written.rows.map((r) => r.id))).toEqual(new Set(ids));
    expect(written.rows.filter((r) => r.status !== 'COMPLETED')).toEqual([]);
    const keys = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM idempotency_keys WHERE key = ANY($1) AND transaction_id = ANY($2::uuid[])`,
      [outcomes.map((o) => o.key), ids],
    );
    expect(keys.rows[0].n).toBe(TRANSFERS);

    // Each balance is what the acknowledged transfers make it, exactly.
    const expected = parties.map(() => new Big('1000'));
    for (const o of outcomes) {
      expected[o.from] = expected[o.from].minus(o.amount);
      expected[o.to] = expected[o.to].plus(o.amount);
    }
    const balances = async () =>
      (
        await sql.query<{ id: string; b: string }>(
          `SELECT id, balance::text AS b FROM wallets WHERE id = ANY($1::uuid[])`,
          [parties.map((p) => p.wallet)],
        )
      ).rows.reduce<Record<string, string>>((m, r) => ({ ...m, [r.id]: r.b }), {});
    const before = await balances();
    expect(before).toEqual(Object.fromEntries(parties.map((p, i) => [p.wallet, expected[i].toFixed(4)])));

    // Replaying every key through haproxy (the survivor alone now) answers the stored transfer and
    // moves nothing.
    for (const o of outcomes) {
      const body = { toWalletId: parties[o.to].wallet, amount: o.amount, currency: 'USD' };
      const r = await call('POST', '/transfers', parties[o.from].token, body, o.key);
      expect([r.status, r.body.id, r.replayed]).toEqual([201, o.id, true]);
    }
    expect(await balances()).toEqual(before);
  });
});
