import { Money } from '../../src/common/money/money';
import type { WritePlan } from '../../src/transfers/engine/engine.types';
import { lockStatement, readStatement } from '../../src/transfers/engine/read-statement';
import { writeStatement } from '../../src/transfers/engine/write-statement';

/** The statement builders are pure: a plan in, SQL and parameters out. The text never depends on the plan. */
const NOW = new Date('2026-01-01T00:00:00.000Z');
const WA = 'aa000000-0000-4000-8000-000000000001';
const WB = 'bb000000-0000-4000-8000-000000000002';
const TX = 'dd000000-0000-4000-8000-000000000004';
const USER = 'a0000000-0000-4000-8000-000000000001';

const plan: WritePlan = {
  wallets: [
    {
      id: WA,
      version: 3,
      balance: Money.parse('30').neg(),
      held: Money.ZERO,
      requireActive: true,
      windows: { DAILY: { start: NOW, amount: Money.parse('30'), count: 1 }, WEEKLY: null, MONTHLY: null },
    },
    {
      id: WB,
      version: 7,
      balance: Money.parse('30'),
      held: Money.ZERO,
      requireActive: true,
      windows: { DAILY: null, WEEKLY: null, MONTHLY: null },
    },
  ],
  inserts: [
    {
      id: TX,
      type: 'TRANSFER',
      status: 'COMPLETED',
      sourceWalletId: WA,
      destinationWalletId: WB,
      amount: Money.parse('30'),
      heldAmount: null,
      currency: 'USD',
      description: 'a "quoted", comma',
      reference: null,
      failureReason: null,
      initiatedBy: USER,
      holdExpiresAt: null,
      createdAt: NOW,
      completedAt: NOW,
      metadata: { order: 'A-1', 'shop.id': '42' },
      refundedAmount: Money.ZERO,
      originalTransactionId: null,
    },
  ],
  settles: [],
  refunds: [],
  ledger: [
    { walletId: WA, transactionId: TX, amount: Money.parse('30').neg(), balanceAfter: Money.parse('70') },
    { walletId: WB, transactionId: TX, amount: Money.parse('30'), balanceAfter: Money.parse('35') },
  ],
  idempotency: [
    { caller: USER, key: 'k-1', hash: 'h'.repeat(64), status: 201, body: { id: TX }, transactionId: TX },
  ],
  mustBeActive: [USER],
  mustBeAdmin: [],
  ended: [
    {
      walletId: WA,
      period: 'DAILY',
      start: new Date('2025-12-31T00:00:00.000Z'),
      amount: Money.parse('12.5'),
      count: 2,
    },
  ],
  giveBacks: [
    {
      walletId: WA,
      period: 'DAILY',
      start: new Date('2025-12-30T00:00:00.000Z'),
      amount: Money.parse('5').neg(),
      count: -1,
    },
  ],
  monitors: [{ id: 'ff000000-0000-4000-8000-000000000006', met: true, lastTriggeredAt: NOW }],
  events: [
    {
      id: 'ee000000-0000-4000-8000-000000000005',
      type: 'transaction.completed',
      walletIds: [WA, WB],
      userIds: [USER],
      data: { transaction: { id: TX } },
    },
  ],
  now: NOW,
};

describe('engine statements (pure)', () => {
  it('writes a plan as one statement with one array per column', () => {
    expect(writeStatement(plan)).toMatchSnapshot();
  });

  it('has the same text for any plan, so one prepared statement serves every batch', () => {
    const empty: WritePlan = {
      ...plan,
      wallets: [],
      inserts: [],
      ledger: [],
      idempotency: [],
      mustBeActive: [],
      ended: [],
      giveBacks: [],
      monitors: [],
      events: [],
    };
    expect(writeStatement(empty).text).toBe(writeStatement(plan).text);
    expect(writeStatement(empty).values.every((v) => !Array.isArray(v) || v.length === 0)).toBe(true);
  });

  it('numbers its parameters densely', () => {
    const { text, values } = writeStatement(plan);
    const used = new Set([...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
    expect([...used].sort((a, b) => a - b)).toEqual(values.map((_, i) => i + 1));
  });

  it('reads and locks with deduplicated ids', () => {
    const read = readStatement({ userIds: [USER, USER], walletIds: [WA, WA], transactionIds: [], keys: [] });
    expect(read.values).toEqual([[], [], [USER], [WA], []]);
    expect(lockStatement([WB, WA, WB]).values).toEqual([[WB, WA]]);
  });
});
