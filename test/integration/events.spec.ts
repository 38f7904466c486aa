import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app';
import { startCluster, type Cluster } from '../support/cluster';
import { createUser, fundedUser, type TestUser, type TestWallet } from '../support/factories';
import { expectLedgerConsistent } from '../support/ledger-checks';

const API = '/api/v1';

interface Event {
  id: string;
  type: string;
  sequence: number;
  createdAt: string;
  walletIds: string[];
  data: { transaction?: Record<string, unknown> & { id: string }; user?: Record<string, unknown> };
}

/** Pages GET /events to the end from `after`, `limit` at a time. */
async function drain(
  t: TestApp,
  u: TestUser,
  after = '0',
  limit = 100,
): Promise<{ items: Event[]; last: string }> {
  const items: Event[] = [];
  let cursor: string | null = after;
  let last = after;
  while (cursor !== null) {
    const res = await request(t.server)
      .get(`${API}/events`)
      .query({ after: cursor, limit })
      .auth(u.token, { type: 'bearer' })
      .expect(200);
    const page = res.body as { items: Event[]; nextCursor: string | null };
    items.push(...page.items);
    if (page.items.length > 0) last = String(page.items[page.items.length - 1].sequence);
    cursor = page.nextCursor;
  }
  return { items, last };
}

/** Waits until the sequencer has numbered every committed event (none left without a sequence). */
async function sequenced(t: TestApp): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await t.sql.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM events e WHERE NOT EXISTS (SELECT 1 FROM event_sequence s WHERE s.event_id = e.id)',
    );
    if (rows[0].n === '0') return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('events were not sequenced in time');
}

describe('events (the outbox and GET /events)', () => {
  let t: TestApp;
  let admin: TestUser;
  beforeAll(async () => {
    t = await startTestApp({ HOLD_MIN_EXPIRY_SECONDS: '1', HOLD_EXPIRY_INTERVAL_MS: '200' });
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await expectLedgerConsistent(t, admin);
    await t.close();
  });

  const post = (u: TestUser, path: string, body: Record<string, unknown>, key: string = randomUUID()) =>
    request(t.server)
      .post(`${API}${path}`)
      .auth(u.token, { type: 'bearer' })
      .set('Idempotency-Key', key)
      .send(body);
  const send = (u: TestUser, to: TestWallet, amount: string, extra: Record<string, unknown> = {}) =>
    post(u, '/transfers', { toWalletId: to.id, amount, currency: 'USD', ...extra });

  it('gives every change exactly its event, in commit order, with the object as it stands after it', async () => {
    const a = await fundedUser(t, admin, '100');
    const b = await fundedUser(t, admin, '0');
    const stranger = await fundedUser(t, admin, '5');
    await sequenced(t);
    const start = (await drain(t, admin)).last;
    const answers: Array<{ type: string; body: Record<string, unknown> & { id: string } }> = [];
    const expect201 = async (type: string, res: Promise<request.Response>, status = 201) => {
      const r = await res;
      expect(r.status).toBe(status);
      answers.push({ type, body: r.body as Record<string, unknown> & { id: string } });
      return r.body as Record<string, unknown> & { id: string };
    };

    const key = randomUUID();
    const paid = await expect201('transaction.completed', send(a.user, b.wallet, '10'));
    // A replay and a refused request without a record change nothing: no event.
    await send(a.user, b.wallet, '10', { metadata: { k: 'v' } }).expect(201);
    await post(a.user, '/transfers', { toWalletId: b.wallet.id, amount: '1', currency: 'USD' }, key).expect(
      201,
    );
    await post(a.user, '/transfers', { toWalletId: b.wallet.id, amount: '1', currency: 'USD' }, key).expect(
      201,
    );
    await send(a.user, b.wallet, '1.00001').expect(400);
    await send(a.user, b.wallet, '1000').expect(422); // recorded FAILED
    const hold = await expect201('hold.created', send(a.user, b.wallet, '5', { hold: true }));
    await expect201('hold.captured', post(b.user, `/transfers/${hold.id}/capture`, {}), 200);
    const voided = await expect201('hold.created', send(a.user, b.wallet, '6', { hold: true }));
    await expect201('hold.voided', post(b.user, `/transfers/${voided.id}/void`, {}), 200);
    await expect201('refund.completed', post(b.user, `/transfers/${paid.id}/refunds`, { amount: '4' }));
    await expect201(
      'transaction.completed',
      post(a.user, '/wallets/me/withdrawals', { amount: '2', currency: 'USD' }),
    );
    const batch = await post(a.user, '/transfers/batch', {
      atomic: true,
      transfers: [
        { toWalletId: b.wallet.id, amount: '1', currency: 'USD' },
        { toWalletId: b.wallet.id, amount: '2', currency: 'USD' },
      ],
    }).expect(201);
    const expiring = await expect201(
      'hold.created',
      send(a.user, b.wallet, '3', { hold: true, holdExpiresInSeconds: 1 }),
    );
    const status = await request(t.server)
      .patch(`${API}/admin/users/${b.user.id}/status`)
      .auth(admin.token, { type: 'bearer' })
      .send({ status: 'SUSPENDED' })
      .expect(200);
    // Setting the status it already has is no change: no event.
    await request(t.server)
      .patch(`${API}/admin/users/${b.user.id}/status`)
      .auth(admin.token, { type: 'bearer' })
      .send({ status: 'SUSPENDED' })
      .expect(200);
    for (let i = 0; i < 100; i++) {
      const { rows } = await t.sql.query(`SELECT status FROM transactions WHERE id = $1`, [expiring.id]);
      if (rows[0].status !== 'PENDING') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await sequenced(t);

    const all = (await drain(t, admin, start, 3)).items;
    const types = all.map((e) => e.type);
    // The second transfer (with metadata), the keyed one once, the FAILED one, the batch's two items, the
    // expiry and the status change sit between the answers recorded above; check the whole list.
    expect(types).toEqual([
      'transaction.completed', // 10
      'transaction.completed', // 10 with metadata
      'transaction.completed', // the keyed 1, once
      'transaction.failed', // 1000
      'hold.created',
      'hold.captured',
      'hold.created',
      'hold.voided',
      'refund.completed',
      'transaction.completed', // withdrawal
      'transaction.completed', // batch item 0
      'transaction.completed', // batch item 1
      'hold.created', // expiring
      'user.status_changed',
      'hold.expired',
    ]);
    const sequences = all.map((e) => e.sequence);
    expect(sequences).toEqual([...sequences].sort((x, y) => x - y));
    expect(new Set(sequences).size).toBe(sequences.length);
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);

    // data.transaction is the object as the API answered it after the change.
    const byTx = (id: string, type: string) =>
      all.find((e) => e.type === type && e.data.transaction?.id === id) as Event;
    for (const { type, body } of answers) expect(byTx(body.id, type).data.transaction).toEqual(body);
    const items = (batch.body as { items: Array<{ transaction: { id: string } }> }).items;
    for (const item of items) {
      expect(byTx(item.transaction.id, 'transaction.completed').data.transaction).toEqual(item.transaction);
    }
    const expired = byTx(expiring.id, 'hold.expired').data.transaction as Record<string, unknown>;
    expect(expired).toMatchObject({ status: 'FAILED', failureReason: 'EXPIRED' });
    const changed = all.find((e) => e.type === 'user.status_changed') as Event;
    expect(changed.data.user).toEqual(status.body);
    expect(changed.walletIds).toEqual([b.wallet.id]);
    const failed = all.find((e) => e.type === 'transaction.failed') as Event;
    expect(failed.data.transaction).toMatchObject({ status: 'FAILED', failureReason: 'INSUFFICIENT_FUNDS' });
    expect(byTx(paid.id, 'transaction.completed').walletIds.sort()).toEqual(
      [a.wallet.id, b.wallet.id].sort(),
    );

    // Visible to exactly the users they touch: A sees all but B's status change, B all but A's withdrawal,
    // the stranger none.
    const seenBy = async (u: TestUser) => new Set((await drain(t, u, start)).items.map((e) => e.id));
    const touching = (w: TestWallet) =>
      new Set(all.filter((e) => e.walletIds.includes(w.id)).map((e) => e.id));
    const withdrawal = all.find((e) => e.data.transaction?.type === 'WITHDRAWAL') as Event;
    expect(touching(a.wallet).size).toBe(all.length - 1);
    expect(touching(b.wallet).size).toBe(all.length - 1);
    expect(touching(b.wallet).has(withdrawal.id)).toBe(false);
    expect(await seenBy(a.user)).toEqual(touching(a.wallet));
    // B is suspended now: B's own token is refused (403), so read B's view as the database gives it.
    const { rows } = await t.sql.query<{ id: string }>(
      `SELECT id FROM numbered_events WHERE user_ids @> ARRAY[$1::uuid] AND sequence > $2`,
      [b.user.id, start],
    );
    expect(new Set(rows.map((r) => r.id))).toEqual(touching(b.wallet));
    expect((await seenBy(stranger.user)).size).toBe(0);
  });

  it('refuses a bad cursor or limit with 400 VALIDATION_FAILED', async () => {
    for (const query of [
      { after: '-1' },
      { after: 'abc' },
      { after: '01' },
      { limit: '0' },
      { limit: '501' },
      { x: '1' },
    ]) {
      const res = await request(t.server)
        .get(`${API}/events`)
        .query(query)
        .auth(admin.token, { type: 'bearer' });
      expect([res.status, res.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    }
    await request(t.server).get(`${API}/events`).expect(401);
  });

  it('keeps events immutable in the database: no update, delete or second sequence', async () => {
    const { rows } = await t.sql.query<{ id: string; sequence: string }>(
      'SELECT id, sequence::text FROM numbered_events LIMIT 1',
    );
    const { id, sequence } = rows[0];
    await expect(t.sql.query(`UPDATE events SET data = '{}' WHERE id = $1`, [id])).rejects.toThrow(
      /append-only/,
    );
    await expect(
      t.sql.query(`UPDATE event_sequence SET sequence = sequence + 1000 WHERE event_id = $1`, [id]),
    ).rejects.toThrow(/append-only/);
    await expect(
      t.sql.query(`INSERT INTO event_sequence (sequence, event_id) VALUES ($1 + 1000000, $2)`, [
        sequence,
        id,
      ]),
    ).rejects.toThrow(/event_sequence_event_id_key/);
    await expect(t.sql.query(`DELETE FROM events WHERE id = $1`, [id])).rejects.toThrow(/append-only/);
    await expect(t.sql.query(`DELETE FROM event_sequence WHERE event_id = $1`, [id])).rejects.toThrow(
      /append-only/,
    );
  });
});

describe('events under concurrent writes on two instances', () => {
  let c: Cluster;
  let admin: TestUser;
  beforeAll(async () => {
    c = await startCluster(2);
    admin = await createUser(c.primary, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await expectLedgerConsistent(c.primary, admin);
    await c.close();
  });

  it('a reader paging while others write sees every event exactly once, and every change has its event', async () => {
    const t = c.primary;
    const parties = await Promise.all(Array.from({ length: 6 }, () => fundedUser(t, admin, '1000')));
    await sequenced(t);
    const start = (await drain(t, admin)).last;

    let writing = true;
    const seen: Event[] = [];
    const reader = (async () => {
      let cursor = start;
      while (writing) {
        const page = await drain(c.instances[1], admin, cursor, 7);
        seen.push(...page.items);
        cursor = page.last;
        await new Promise((r) => setTimeout(r, 5));
      }
      return cursor;
    })();
    const writes = Array.from({ length: 300 }, (_, i) => {
      const from = parties[i % parties.length];
      const to = parties[(i * 7 + 1) % parties.length];
      const target = to === from ? parties[(i + 1) % parties.length] : to;
      return request(c.pick(i).server)
        .post(`${API}/transfers`)
        .auth(from.user.token, { type: 'bearer' })
        .set('Idempotency-Key', randomUUID())
        .send({ toWalletId: target.wallet.id, amount: i % 10 === 0 ? '5000' : '1.5', currency: 'USD' });
    });
    const statuses = (await Promise.all(writes)).map((r) => r.status);
    expect(statuses.every((s) => s === 201 || s === 422)).toBe(true);
    writing = false;
    const cursor = await reader;
    await sequenced(t);
    seen.push(...(await drain(t, admin, cursor, 7)).items);

    // Exactly once, in order, and nothing the reader skipped: the table holds no event past `start` it missed.
    const ids = seen.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    const seq = seen.map((e) => e.sequence);
    expect(seq).toEqual([...seq].sort((x, y) => x - y));
    const { rows } = await t.sql.query<{ id: string }>('SELECT id FROM numbered_events WHERE sequence > $1', [
      start,
    ]);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(ids));
    // Sequences have no gaps.
    expect(seq[seq.length - 1] - seq[0] + 1).toBe(seq.length);
    expect(seen.length).toBe(300);
    expect(seen.filter((e) => e.type === 'transaction.failed').length).toBe(
      statuses.filter((s) => s === 422).length,
    );

    // Outbox: every transaction has its one event and every event its transaction (no event without its change).
    const orphans = await t.sql.query(`
      SELECT t.id FROM transactions t
       WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.data->'transaction'->>'id' = t.id::text)
      UNION ALL
      SELECT e.id FROM events e
       WHERE e.type <> 'user.status_changed'
         AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.id::text = e.data->'transaction'->>'id')`);
    expect(orphans.rows).toEqual([]);
  });
});
