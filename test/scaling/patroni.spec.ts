import { randomUUID } from 'node:crypto';
import { MONEY_INVARIANTS } from '../../scripts/lib/invariants-sql.cjs';
import { type LiveNode, PatroniCluster } from './support/patroni-cluster';
import { SCALING_ADMIN, ServiceProcess } from './support/service-process';

/**
 * The cluster of deploy/patroni on loopback: etcd, three Patroni nodes running PostgreSQL 15 in
 * synchronous_mode, haproxy routing by Patroni's /primary and /replica checks, and the built service
 * writing through haproxy's write port and reading statements from its replica port. Under a load of
 * transfers whose clients retry every unknown outcome with the same Idempotency-Key:
 * - a planned switchover (patronictl switchover --force) is invisible: every request answered 2xx, none
 *   503 or 500, nothing lost (the service holds a write while the primary moves: DB_PRIMARY_WAIT_MS);
 * - SIGKILL of the leader's PostgreSQL and Patroni: a new leader is elected, every 2xx transfer is there
 *   once, each key applied at most once, money conserved, no 500, the time without service reported; the
 *   old leader, restarted, rejoins as a replica.
 */
const PARTIES = 6;
const AMOUNT = '1.2500';

interface Party {
  userId: string;
  token: string;
  wallet: string;
}
interface Answer {
  key: string;
  party: number;
  status: number;
  id?: string;
  attempts: number;
  /** Every status this key was answered with, in order (0: no answer). */
  statuses: number[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Final for a client: success or a refusal. No answer, 5xx and 409 (key still in progress) are retried. */
const isFinal = (status: number): boolean => status !== 0 && status < 500 && status !== 409;
const ok = (status: number): boolean => status >= 200 && status < 300;

/** The longest time between two consecutive successful answers: the time without service. */
const longestGap = (successes: Array<{ done: number }>): number => {
  const done = successes.map((s) => s.done).sort((a, b) => a - b);
  return done.slice(1).reduce((max, t, i) => Math.max(max, t - done[i]), 0);
};

describe('Patroni: switchover and failover under load', () => {
  const cluster = new PatroniCluster();
  let service: ServiceProcess;
  const parties: Party[] = [];

  beforeAll(async () => {
    await cluster.start();
    service = new ServiceProcess(cluster.target, {
      DB_RUN_MIGRATIONS: 'true',
      POSTGRES_REPLICA_HOSTS: cluster.replicaAddress,
      DB_CONNECT_TIMEOUT_MS: '2000',
      DB_POOL_SIZE: '8',
    });
    await service.start();
    const admin = (await call('POST', '/auth/login', undefined, SCALING_ADMIN)).body.accessToken as string;
    for (let i = 0; i < PARTIES; i++) parties.push(await party(admin));
  }, 200000);

  afterAll(async () => {
    await service?.stop();
    await cluster.destroy();
  }, 60000);

  async function call(
    method: string,
    path: string,
    token?: string,
    body?: unknown,
    key?: string,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    try {
      const res = await fetch(`${service.url}/api/v1${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(key ? { 'idempotency-key': key } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30000),
      });
      return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
    } catch {
      return { status: 0, body: {} };
    }
  }

  async function party(admin: string): Promise<Party> {
    const email = `p${randomUUID().slice(0, 12)}@example.com`;
    const password = 'patroni suite password';
    const reg = await call('POST', '/auth/register', undefined, { email, password, fullName: 'P' });
    expect(reg.status).toBe(201);
    const login = await call('POST', '/auth/login', undefined, { email, password });
    const token = login.body.accessToken as string;
    const wallet = (await call('POST', '/wallets', token, { currency: 'USD' })).body.id as string;
    const dep = await call(
      'POST',
      `/admin/wallets/${wallet}/deposits`,
      admin,
      { amount: '1000', currency: 'USD' },
      randomUUID(),
    );
    expect(dep.status).toBe(201);
    return { userId: reg.body.id as string, token, wallet };
  }

  /** Clients sending transfers in a closed loop, each key retried until it gets a final answer. */
  function load() {
    const answers: Answer[] = [];
    const successes: Array<{ sent: number; done: number }> = [];
    let stopping = false;
    let abandoned = false;
    const worker = async (index: number) => {
      for (let n = 0; !stopping; n++) {
        const to = parties[(index + 1 + (n % (PARTIES - 1))) % PARTIES].wallet;
        const a: Answer = { key: randomUUID(), party: index, status: 0, attempts: 0, statuses: [] };
        for (;;) {
          a.attempts++;
          const sent = Date.now();
          const r = await call('POST', '/transfers', parties[index].token, { toWalletId: to, amount: AMOUNT, currency: 'USD' }, a.key); // prettier-ignore
          a.statuses.push(r.status);
          if (ok(r.status)) successes.push({ sent, done: Date.now() });
          if (isFinal(r.status)) {
            Object.assign(a, { status: r.status, id: r.body.id as string | undefined });
            answers.push(a);
            break;
          }
          if (abandoned) return;
          await sleep(100);
        }
      }
    };
    const running = parties.map((_, i) => worker(i));
    return {
      answers,
      successes,
      /** Waits until `n` transfers sent after `since` have succeeded. */
      async until(n: number, since: number, what: string, timeoutMs = 90000) {
        const deadline = Date.now() + timeoutMs;
        while (successes.filter((s) => s.sent > since).length < n) {
          if (Date.now() > deadline) {
            abandoned = true;
            const statuses = answers.flatMap((a) => a.statuses).slice(-20);
            throw new Error(
              `timed out waiting for ${what}; last statuses ${statuses.join(',')}; the service said:\n${service.output.slice(-4000)}`,
            );
          }
          await sleep(50);
        }
      },
      async stop() {
        stopping = true;
        await Promise.all(running);
      },
      abandon() {
        abandoned = true;
      },
    };
  }

  const lastSeq = async (node: LiveNode): Promise<string> =>
    (await node.query<{ s: string }>('SELECT COALESCE(max(seq), 0)::text AS s FROM transactions'))[0].s;

  /**
   * On `node` (the leader now): every acknowledged transfer is there, completed with its two ledger
   * entries; one transfer per acknowledged key and no other since `since`; each key's stored answer names
   * the transfer its client got; every money invariant holds.
   */
  async function checkEveryAcknowledged(node: LiveNode, answers: Answer[], since: string): Promise<void> {
    const acked = answers.filter((a) => ok(a.status));
    const ids = acked.map((a) => a.id);
    expect(new Set(ids).size).toBe(acked.length);
    const found = await node.query<{ id: string; status: string; entries: string }>(
      `SELECT t.id, t.status, count(l.id)::text AS entries FROM transactions t
         LEFT JOIN ledger_entries l ON l.transaction_id = t.id
        WHERE t.id = ANY($1::uuid[]) GROUP BY t.id, t.status`,
      undefined,
      [ids],
    );
    expect(found.length).toBe(acked.length);
    expect(found.filter((f) => f.status !== 'COMPLETED' || f.entries !== '2')).toEqual([]);
    const [{ n }] = await node.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM transactions WHERE type = 'TRANSFER' AND seq > $1`,
      undefined,
      [since],
    );
    expect(Number(n)).toBe(acked.length);
    const stored = await node.query<{ user_id: string; key: string; transaction_id: string }>(
      `SELECT user_id, key, transaction_id FROM idempotency_keys WHERE key = ANY($1::text[])`,
      undefined,
      [acked.map((a) => a.key)],
    );
    const byKey = new Map(stored.map((s) => [`${s.user_id}/${s.key}`, s.transaction_id]));
    expect(acked.filter((a) => byKey.get(`${parties[a.party].userId}/${a.key}`) !== a.id)).toEqual([]);
    for (const invariant of MONEY_INVARIANTS) {
      expect({ [invariant.name]: await node.query(invariant.sql) }).toEqual({ [invariant.name]: [] });
    }
  }

  /** The tables a transfer writes rows into (wallets are updated in place). */
  const GROWING = ['transactions', 'ledger_entries', 'idempotency_keys', 'events', 'event_sequence'];

  interface Snapshot {
    lsn: string;
    transfers: number;
    rows: Record<string, number>;
    bytes: Record<string, number>;
  }

  /** WAL position, transfers since `since`, rows and bytes (with indexes) per table: one snapshot. */
  async function costSnapshot(node: LiveNode, since: string): Promise<Snapshot> {
    const per = (f: (t: string) => string) =>
      `json_build_object(${GROWING.map((t) => `'${t}', ${f(t)}`).join(', ')})`;
    const [row] = await node.query<{
      lsn: string;
      transfers: string;
      rows: Record<string, number>;
      bytes: Record<string, number>;
    }>(
      `SELECT pg_current_wal_lsn()::text AS lsn,
              (SELECT count(*) FROM transactions WHERE type = 'TRANSFER' AND seq > $1)::text AS transfers,
              ${per((t) => `(SELECT count(*) FROM ${t})`)} AS rows,
              ${per((t) => `pg_total_relation_size('${t}')`)} AS bytes`,
      undefined,
      [since],
    );
    return { lsn: row.lsn, transfers: Number(row.transfers), rows: row.rows, bytes: row.bytes };
  }

  /**
   * Per transfer between two snapshots: WAL bytes, and rows written per table. Plus each growing table's
   * bytes per row (heap, indexes, TOAST) at the second snapshot: an upper bound on small tables, whose
   * first pages and index roots are mostly empty.
   */
  function perTransfer(a: Snapshot, b: Snapshot): Record<string, number> {
    const n = b.transfers - a.transfers;
    const lsn = (x: string) => {
      const [hi, lo] = x.split('/');
      return parseInt(hi, 16) * 2 ** 32 + parseInt(lo, 16);
    };
    const out: Record<string, number> = { transfers: n, walBytes: Math.round((lsn(b.lsn) - lsn(a.lsn)) / n) };
    for (const t of GROWING) {
      out[`${t}Rows`] = Math.round(((b.rows[t] - a.rows[t]) / n) * 100) / 100;
      out[`${t}BytesPerRow`] = b.rows[t] > 0 ? Math.round(b.bytes[t] / b.rows[t]) : 0;
    }
    return out;
  }

  it('a planned switchover is invisible: every transfer answered 2xx, none 503 or 500, nothing lost', async () => {
    await cluster.waitHealthy();
    const before = await cluster.leader();
    const since = await lastSeq(before);
    const run = load();
    let switchedAt = 0;
    let cost: Record<string, number> = {};
    try {
      await run.until(20, 0, 'load before the switchover');
      const first = await costSnapshot(before, since);
      await run.until(200, 0, 'load before the switchover');
      cost = perTransfer(first, await costSnapshot(before, since));
      switchedAt = Date.now();
      await cluster.switchover();
      await cluster.waitFor('a new leader', async (m) =>
        m.some((x) => x.role === 'leader' && x.state === 'running' && x.name !== before.name),
      );
      await run.until(60, Date.now(), 'load on the new leader');
    } catch (err) {
      run.abandon();
      throw err;
    } finally {
      await run.stop();
    }
    const after = await cluster.leader();
    const slowest = Math.max(...run.successes.filter((s) => s.done > switchedAt).map((s) => s.done - s.sent));
    const report = {
      from: before.name,
      to: after.name,
      transfers: run.answers.length,
      acknowledged: run.answers.filter((a) => ok(a.status)).length,
      slowestAnswerAfterSwitchoverMs: slowest,
      perTransfer: cost,
    };
    process.stdout.write(`patroni switchover: ${JSON.stringify(report)}\n`);
    expect(after.name).not.toBe(before.name);
    // Invisible: no request of any client was answered otherwise than 201 (no 503, no 500, no dropped
    // connection), so no key needed a second attempt.
    expect(run.answers.filter((a) => a.statuses.some((s) => s !== 201))).toEqual([]);
    await checkEveryAcknowledged(after, run.answers, since);
    // Reads through the replica port keep read-your-writes: each client sees its own balance.
    for (const p of parties) {
      const res = await call('GET', '/wallets/me/balance', p.token);
      expect(res.status).toBe(200);
    }
  }, 180000);

  it('SIGKILL of the leader: a new leader, every acknowledged transfer once, no 500; the old leader rejoins', async () => {
    await cluster.waitHealthy();
    const before = await cluster.leader();
    const since = await lastSeq(before);
    const run = load();
    let killedAt = 0;
    let electedAt = 0;
    try {
      await run.until(60, 0, 'load before the kill');
      killedAt = Date.now();
      await before.node.killHard();
      await cluster.waitFor('a new leader', async (m) =>
        m.some((x) => x.role === 'leader' && x.state === 'running' && x.name !== before.name),
      );
      electedAt = Date.now();
      await run.until(60, Date.now(), 'load on the new leader');
    } catch (err) {
      run.abandon();
      throw err;
    } finally {
      await run.stop();
    }
    const after = await cluster.leader();
    const firstAfter = run.successes.find((s) => s.sent > killedAt)?.done ?? NaN;
    const statuses = run.answers.flatMap((a) => a.statuses);
    const report = {
      from: before.name,
      to: after.name,
      acknowledged: run.answers.filter((a) => ok(a.status)).length,
      retriedKeys: run.answers.filter((a) => a.attempts > 1).length,
      answered503: statuses.filter((s) => s === 503).length,
      newLeaderSeconds: (electedAt - killedAt) / 1000,
      withoutServiceSeconds: (firstAfter - killedAt) / 1000,
      longestGapSeconds: longestGap(run.successes) / 1000,
    };
    process.stdout.write(`patroni failover: ${JSON.stringify(report)}\n`);
    expect(after.name).not.toBe(before.name);
    expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    expect(run.answers.filter((a) => !ok(a.status))).toEqual([]);
    await checkEveryAcknowledged(after, run.answers, since);

    // The old leader, started again, rejoins as a replica of the new one: in recovery, and streaming
    // from the new leader (pg_rewind first when it had WAL the new leader never got).
    const restartedAt = Date.now();
    before.node.start();
    const deadline = Date.now() + 90000;
    let streaming: Array<{ state: string }> = [];
    while (Date.now() < deadline) {
      streaming = await after.query<{ state: string }>(
        `SELECT state FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`,
        'postgres',
        [before.name],
      );
      if (streaming.length > 0) break;
      await sleep(250);
    }
    expect(streaming).toEqual([{ state: 'streaming' }]);
    const [{ recovering }] = await before.query<{ recovering: boolean }>(
      'SELECT pg_is_in_recovery() AS recovering',
    );
    expect(recovering).toBe(true);
    expect((await cluster.leader()).name).toBe(after.name);
    process.stdout.write(`patroni rejoin: streaming ${(Date.now() - restartedAt) / 1000} s after restart\n`);
  }, 180000);
});
