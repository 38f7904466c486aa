import request from 'supertest';
import { Money } from '../../src/common/money/money';
import { PrimaryHold } from '../../src/database/primary-hold';
import { SYSTEM_CLOCK, type EngineClock } from '../../src/transfers/engine/engine-clock';
import { ENGINE_STORE, type EngineStore } from '../../src/transfers/engine/engine.port';
import type { Movement, Outcome } from '../../src/transfers/engine/engine.types';
import { MovementEngine } from '../../src/transfers/engine/movement-engine';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, fundedUser, type TestUser } from '../support/factories';
import { expectLedgerConsistent } from '../support/ledger-checks';

/**
 * The turn of a window on PostgreSQL: the window a wallet's row keeps is stored when the next begins, a
 * hold gives back to the window it was created in once that has ended, and an instance whose clock runs
 * behind another's at the turn counts in the window that began. The real engine and store, with clocks
 * the test sets (2030-01-01 is a Tuesday: the turn of a day inside one week and one month).
 */
describe('limit windows at their turn', () => {
  let t: TestApp;
  let admin: TestUser;
  const DAY1 = Date.UTC(2030, 0, 1, 12);
  const DAY2 = Date.UTC(2030, 0, 2, 0, 0, 5);

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    try {
      await expectLedgerConsistent(t, admin);
    } finally {
      await t.close();
    }
  });

  /** An engine on the app's store whose clock reads `at()`. */
  function engineAt(at: () => number): MovementEngine {
    const clock: EngineClock = { ...SYSTEM_CLOCK, now: at };
    return new MovementEngine(t.app.get<EngineStore>(ENGINE_STORE), t.app.get(PrimaryHold), clock);
  }

  async function run(engine: MovementEngine, movement: Movement): Promise<Outcome> {
    for (;;) {
      const [result] = await engine.attempt([{ movement }], 'optimistic');
      if (result.kind === 'done') return result.outcome;
    }
  }

  const applied = (o: Outcome): string => {
    if (o.kind !== 'applied') throw new Error(`not applied: ${JSON.stringify(o)}`);
    return o.transaction.id;
  };

  async function windows(walletId: string) {
    const { rows } = await t.sql.query<{ period: string; start: Date; amount: string; count: number }>(
      `SELECT period, period_start AS start, used_amount::text AS amount, used_count AS count
         FROM wallet_usage_windows WHERE wallet_id = $1 ORDER BY period, period_start`,
      [walletId],
    );
    return rows.map((r) => [r.period, r.start.toISOString(), r.amount, r.count]);
  }

  it('stores the ended window, gives a hold back to it, and never counts behind a turn', async () => {
    const from = await fundedUser(t, admin, '1000');
    const to = await fundedUser(t, admin, '0');
    await request(t.server)
      .put(`/api/v1/admin/wallets/${from.wallet.id}/limits`)
      .auth(admin.token, { type: 'bearer' })
      .send({
        limits: [
          { window: 'DAILY', maxAmount: '100' },
          { window: 'MONTHLY', maxCount: 10 },
        ],
      })
      .expect(200);
    const caller = { id: from.user.id };
    const transfer = (amount: string, hold = false): Movement => ({
      kind: 'transfer',
      caller,
      toWalletId: to.wallet.id,
      amount: Money.parse(amount),
      currency: 'USD',
      ...(hold ? { hold: true, holdExpiresInSeconds: 7 * 24 * 3600 } : {}),
    });

    let now = DAY1;
    const engine = engineAt(() => now);
    applied(await run(engine, transfer('30')));
    const hold = applied(await run(engine, transfer('20', true)));
    // The PUT kept today's (real) windows on the row; the first spend of 2030 stored them as ended.
    expect((await windows(from.wallet.id)).filter((w) => w[1] >= '2030')).toEqual([
      ['DAILY', '2030-01-01T00:00:00.000Z', '50.0000', 2],
      ['MONTHLY', '2030-01-01T00:00:00.000Z', '50.0000', 2],
    ]);

    // The next day: 80 fits the new day's window (with the first day's 50 it would not).
    now = DAY2;
    applied(await run(engine, transfer('80')));
    // The hold of the first day is voided: it gives back to that day, stored now, and to the month.
    applied(await run(engine, { kind: 'void', caller: { id: to.user.id }, transactionId: hold }));
    // An instance whose clock is still in the first day counts in the second, where the row has moved.
    const behind = engineAt(() => Date.UTC(2030, 0, 1, 23, 59, 59, 990));
    const late = await run(behind, transfer('5'));
    expect(late.kind === 'applied' && late.transaction.createdAt.toISOString()).toBe(
      '2030-01-02T00:00:00.000Z',
    );
    expect((await windows(from.wallet.id)).filter((w) => w[1] >= '2030')).toEqual([
      ['DAILY', '2030-01-01T00:00:00.000Z', '30.0000', 1],
      ['DAILY', '2030-01-02T00:00:00.000Z', '85.0000', 2],
      ['MONTHLY', '2030-01-01T00:00:00.000Z', '115.0000', 3],
    ]);
    // The second day's limit counts its own spending only: 15 more fits, 0.0001 past it does not.
    const over = await run(engine, transfer('15.0001'));
    expect(over.kind === 'refused' && over.error.publicCode).toBe('LIMIT_EXCEEDED');
    applied(await run(engine, transfer('15')));
    expect((await windows(from.wallet.id)).filter((w) => w[1] >= '2030')).toEqual([
      ['DAILY', '2030-01-01T00:00:00.000Z', '30.0000', 1],
      ['DAILY', '2030-01-02T00:00:00.000Z', '100.0000', 3],
      ['MONTHLY', '2030-01-01T00:00:00.000Z', '130.0000', 4],
    ]);
  });
});
