import { randomUUID } from 'node:crypto';
import { Money } from '../../src/common/money/money';
import request from 'supertest';
import type { TestApp } from '../support/app';
import { type Cluster, type ClusterRequests, clusterRequests, startCluster } from '../support/cluster';
import { createUser, createWallet, fundedUser, type TestUser } from '../support/factories';
import { expectLedgerConsistent } from '../support/ledger-checks';

const API = '/api/v1';

interface Monitor {
  id: string;
  walletId: string;
  field: string;
  operator: string;
  value: string;
  description: string | null;
  met: boolean;
  createdAt: string;
  lastTriggeredAt: string | null;
}
interface MonitorEvent {
  type: string;
  sequence: number;
  walletIds: string[];
  data: {
    monitor: Monitor;
    wallet: { id: string; balance: string; availableBalance: string };
    transactionId: string | null;
  };
}

/** Balance monitors (contract v1.2), on two instances sharing one database. */
describe('balance monitors', () => {
  let c: Cluster;
  let t: TestApp;
  let admin: TestUser;
  let post: ClusterRequests['post'];
  let transfer: ClusterRequests['transfer'];

  beforeAll(async () => {
    c = await startCluster(2);
    t = c.primary;
    ({ post, transfer } = clusterRequests(c));
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    try {
      await expectLedgerConsistent(t, admin);
    } finally {
      await c.close();
    }
  });

  const create = (u: TestUser, body: Record<string, unknown>) =>
    request(t.server).post(`${API}/wallets/me/monitors`).auth(u.token, { type: 'bearer' }).send(body);
  const list = async (u: TestUser) =>
    (
      (
        await request(t.server)
          .get(`${API}/wallets/me/monitors`)
          .auth(u.token, { type: 'bearer' })
          .expect(200)
      ).body as { items: Monitor[] }
    ).items;

  /** The user's monitor events, in sequence order, once every committed event is numbered. */
  async function monitorEvents(u: TestUser, expected: number): Promise<MonitorEvent[]> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const items: MonitorEvent[] = [];
      let cursor: string | null = '0';
      while (cursor !== null) {
        const res = await request(t.server)
          .get(`${API}/events`)
          .query({ after: cursor, limit: 100 })
          .auth(u.token, { type: 'bearer' })
          .expect(200);
        const page = res.body as { items: MonitorEvent[]; nextCursor: string | null };
        items.push(...page.items.filter((e) => e.type.startsWith('monitor.')));
        cursor = page.nextCursor;
      }
      if (items.length >= expected) return items;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`fewer than ${expected} monitor events`);
  }

  it('creates, lists and deletes monitors; `met` computed at creation without an event', async () => {
    const { user, wallet } = await fundedUser(t, admin, '100');
    const low = await create(user, {
      field: 'balance',
      operator: 'lt',
      value: '50',
      description: 'Low',
    }).expect(201);
    expect(low.body).toEqual({
      id: expect.any(String),
      walletId: wallet.id,
      field: 'balance',
      operator: 'lt',
      value: '50.0000',
      description: 'Low',
      met: false,
      createdAt: expect.any(String),
      lastTriggeredAt: null,
    });
    const high = await create(user, { field: 'availableBalance', operator: 'gte', value: '-10' }).expect(201);
    expect(high.body).toMatchObject({ met: true, description: null, value: '-10.0000' });
    expect((await list(user)).map((m) => m.id)).toEqual([low.body.id, high.body.id]);
    const other = await fundedUser(t, admin, '0');
    await request(t.server)
      .delete(`${API}/wallets/me/monitors/${String(low.body.id)}`)
      .auth(other.user.token, { type: 'bearer' })
      .expect(404);
    await request(t.server)
      .delete(`${API}/wallets/me/monitors/${randomUUID()}`)
      .auth(user.token, { type: 'bearer' })
      .expect(404);
    await request(t.server)
      .delete(`${API}/wallets/me/monitors/${String(low.body.id)}`)
      .auth(user.token, { type: 'bearer' })
      .expect(204);
    expect((await list(user)).map((m) => m.id)).toEqual([high.body.id]);
    const { rows } = await t.sql.query(
      `SELECT 1 FROM events WHERE type LIKE 'monitor.%' AND $1 = ANY(wallet_ids)`,
      [wallet.id],
    );
    expect(rows).toEqual([]);
  });

  it('refuses malformed monitors with 400, an eleventh with 422, and a user without a wallet with 404', async () => {
    const { user } = await fundedUser(t, admin, '0');
    for (const body of [
      { field: 'held', operator: 'lt', value: '1' },
      { field: 'balance', operator: 'eq', value: '1' },
      { field: 'balance', operator: 'lt', value: 1 },
      { field: 'balance', operator: 'lt', value: '1.00001' },
      { field: 'balance', operator: 'lt' },
      { field: 'balance', operator: 'lt', value: '1', extra: true },
    ]) {
      const res = await create(user, body);
      expect([JSON.stringify(body), res.status, res.body.code]).toEqual([
        JSON.stringify(body),
        400,
        'VALIDATION_FAILED',
      ]);
    }
    for (let i = 0; i < 10; i++)
      await create(user, { field: 'balance', operator: 'gt', value: String(i) }).expect(201);
    const full = await create(user, { field: 'balance', operator: 'gt', value: '99' });
    expect([full.status, full.body.code]).toEqual([422, 'CONSTRAINT_VIOLATION']);
    const walletless = await createUser(t);
    expect((await create(walletless, { field: 'balance', operator: 'lt', value: '1' })).status).toBe(404);
  });

  it('writes one event per crossing with the monitor and the wallet as they stand after the movement', async () => {
    const a = await fundedUser(t, admin, '100');
    const b = await fundedUser(t, admin, '0');
    const m = (await create(a.user, { field: 'balance', operator: 'lt', value: '50' }).expect(201))
      .body as Monitor;
    const avail = (
      await create(a.user, { field: 'availableBalance', operator: 'lte', value: '30' }).expect(201)
    ).body as Monitor;
    const first = (await transfer(0, a.user, b.wallet, '60').expect(201)).body as { id: string };
    await transfer(1, a.user, b.wallet, '5').expect(201); // stays below: nothing
    const hold = (await transfer(0, a.user, b.wallet, '10', { hold: true }).expect(201)).body as {
      id: string;
    };
    await post(1, b.user, `/transfers/${hold.id}/void`, {}).expect(200);
    const back = (await transfer(0, b.user, a.wallet, '30').expect(201)).body as { id: string };
    const events = await monitorEvents(a.user, 4);
    expect(
      events.map((e) => [
        e.type,
        e.data.monitor.id,
        e.data.transactionId,
        e.data.wallet.balance,
        e.data.wallet.availableBalance,
      ]),
    ).toEqual([
      ['monitor.triggered', m.id, first.id, '40.0000', '40.0000'],
      ['monitor.triggered', avail.id, hold.id, '35.0000', '25.0000'],
      ['monitor.cleared', avail.id, hold.id, '35.0000', '35.0000'],
      ['monitor.cleared', m.id, back.id, '65.0000', '65.0000'],
    ]);
    expect(events[0].walletIds).toEqual([a.wallet.id]);
    expect(events[0].data.monitor).toMatchObject({ met: true, lastTriggeredAt: expect.any(String) });
    expect(events[3].data.monitor).toMatchObject({
      met: false,
      lastTriggeredAt: events[0].data.monitor.lastTriggeredAt,
    });
    expect((await list(a.user)).map((x) => x.met)).toEqual([false, false]);
  }, 60_000);

  it('under concurrent writes on two instances, the events are exactly the crossings of the running balance', async () => {
    // Funded so that no order of the 60 can refuse one: the balance walks around the monitor's value.
    const a = await fundedUser(t, admin, '300');
    const b = await fundedUser(t, admin, '300');
    const m = (await create(a.user, { field: 'balance', operator: 'lt', value: '300' }).expect(201))
      .body as Monitor;
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 2 === 0 ? transfer(i, a.user, b.wallet, '7') : transfer(i, b.user, a.wallet, '5'),
      ),
    );
    expect(results.map((r) => r.status).filter((s) => s !== 201)).toEqual([]);
    const { rows } = await t.sql.query<{ b: string }>(
      'SELECT balance_after::text AS b FROM ledger_entries WHERE wallet_id = $1 ORDER BY id',
      [a.wallet.id],
    );
    const crossings: string[] = [];
    let met = false;
    for (const { b: balance } of rows) {
      const now = Money.fromDb(balance).lt(Money.parse('300'));
      if (now !== met) crossings.push(now ? 'monitor.triggered' : 'monitor.cleared');
      met = now;
    }
    expect(crossings.length).toBeGreaterThan(0);
    const events = (await monitorEvents(a.user, crossings.length)).filter((e) => e.data.monitor.id === m.id);
    expect(events.map((e) => e.type)).toEqual(crossings);
    expect((await list(a.user))[0].met).toBe(met);
  }, 120_000);

  it('a new overdraft that moves availableBalance across a monitor writes its event', async () => {
    const user = await createUser(t);
    const w = await createWallet(t, user);
    await create(user, { field: 'availableBalance', operator: 'gt', value: '10' }).expect(201);
    await request(t.server)
      .put(`${API}/admin/wallets/${w.id}/limits`)
      .auth(admin.token, { type: 'bearer' })
      .send({ overdraftLimit: '20', limits: [] })
      .expect(200);
    const events = await monitorEvents(user, 1);
    expect(events.map((e) => [e.type, e.data.transactionId, e.data.wallet.availableBalance])).toEqual([
      ['monitor.triggered', null, '20.0000'],
    ]);
  });
});
