import { Money } from '../../src/common/money/money';
import { BatchPlan } from '../../src/transfers/engine/batch-plan';
import type {
  Decision,
  EngineState,
  LimitRule,
  Movement,
  MonitorState,
  WalletState,
} from '../../src/transfers/engine/engine.types';
import { decide } from '../../src/transfers/engine/movement-rules';
import { usageKey } from '../../src/transfers/engine/movement-rules.limits';
import type { TxRecord } from '../../src/transfers/transaction.record';
import { windowOf } from '../../src/wallets/limits/limit-windows';

/** Spending limits, overdraft and monitors in the pure rules and the batch plan: no database. */
const NOW = new Date('2026-01-07T10:00:00.000Z'); // a Wednesday
let ids = 0;
const ctx = { now: NOW, newId: () => `00000000-0000-4000-8000-${String(++ids).padStart(12, '0')}` };
const ALICE = 'a0000000-0000-4000-8000-000000000001';
const BOB = 'b0000000-0000-4000-8000-000000000002';
const WA = 'aa000000-0000-4000-8000-000000000001';
const WB = 'bb000000-0000-4000-8000-000000000002';
const HOLD = 'dd000000-0000-4000-8000-000000000004';
const m$ = (s: string) => Money.parse(s);

function wallet(id: string, userId: string, balance: string, extra: Partial<WalletState> = {}): WalletState {
  return {
    id,
    userId,
    currency: 'USD',
    balance: m$(balance),
    held: Money.ZERO,
    version: 1,
    userStatus: 'ACTIVE',
    overdraft: Money.ZERO,
    limits: [],
    usage: new Map(),
    monitors: [],
    ...extra,
  };
}

function state(a: Partial<WalletState> = {}, tx?: TxRecord): EngineState {
  const wa = wallet(WA, ALICE, '1000', a);
  const wb = wallet(WB, BOB, '0');
  return {
    wallets: new Map([
      [WA, wa],
      [WB, wb],
    ]),
    walletOfUser: new Map([
      [ALICE, WA],
      [BOB, WB],
    ]),
    users: new Map([
      [ALICE, { status: 'ACTIVE', role: 'USER' }],
      [BOB, { status: 'ACTIVE', role: 'USER' }],
    ]),
    transactions: new Map(tx ? [[tx.id, tx]] : []),
    idempotency: new Map(),
  };
}

const limit = (
  window: LimitRule['window'],
  maxAmount: string | null,
  maxCount: number | null = null,
): LimitRule => ({
  window,
  maxAmount: maxAmount === null ? null : m$(maxAmount),
  maxCount,
});
const used = (period: 'DAILY' | 'WEEKLY' | 'MONTHLY', amount: string, count: number) =>
  [usageKey(period, windowOf(period, NOW).start), { amount: m$(amount), count }] as const;

const transfer = (
  amount: string,
  extra: Partial<Extract<Movement, { kind: 'transfer' }>> = {},
): Movement => ({
  kind: 'transfer',
  caller: { id: ALICE },
  toWalletId: WB,
  amount: m$(amount),
  currency: 'USD',
  ...extra,
});
const withdrawal = (amount: string): Movement => ({
  kind: 'withdrawal',
  caller: { id: ALICE },
  amount: m$(amount),
  currency: 'USD',
});

function refusal(d: Decision): { code: string; reason: string | null; limit: unknown } {
  if (d.kind !== 'refused') throw new Error('expected a refusal');
  return {
    code: d.error.publicCode,
    reason: d.record?.failureReason ?? null,
    limit: d.error.extras.fields?.limit ?? null,
  };
}

function hold(extra: Partial<TxRecord> = {}): TxRecord {
  return {
    id: HOLD,
    type: 'TRANSFER',
    status: 'PENDING',
    sourceWalletId: WA,
    destinationWalletId: WB,
    amount: m$('40'),
    heldAmount: m$('40'),
    currency: 'USD',
    description: null,
    reference: null,
    failureReason: null,
    initiatedBy: ALICE,
    holdExpiresAt: new Date(NOW.getTime() + 60_000),
    createdAt: new Date('2026-01-05T08:00:00.000Z'), // Monday: same week and month, another day
    completedAt: null,
    metadata: {},
    refundedAmount: Money.ZERO,
    originalTransactionId: null,
    ...extra,
  };
}

describe('limit windows', () => {
  it('are UTC calendar windows: a day from 00:00Z, a week from Monday, a month from the 1st', () => {
    const at = new Date('2026-03-01T23:59:59.999Z'); // a Sunday
    expect(windowOf('DAILY', at)).toEqual({
      start: new Date('2026-03-01T00:00:00Z'),
      end: new Date('2026-03-02T00:00:00Z'),
    });
    expect(windowOf('WEEKLY', at)).toEqual({
      start: new Date('2026-02-23T00:00:00Z'),
      end: new Date('2026-03-02T00:00:00Z'),
    });
    expect(windowOf('MONTHLY', at)).toEqual({
      start: new Date('2026-03-01T00:00:00Z'),
      end: new Date('2026-04-01T00:00:00Z'),
    });
    expect(windowOf('WEEKLY', new Date('2026-03-02T00:00:00Z')).start).toEqual(
      new Date('2026-03-02T00:00:00Z'),
    );
  });
});

describe('spending limits in the rules', () => {
  it.each([
    ['PER_TRANSACTION', [limit('PER_TRANSACTION', '50')], [], transfer('50.0001')],
    ['DAILY amount', [limit('DAILY', '100')], [used('DAILY', '60', 1)], transfer('40.0001')],
    ['DAILY count', [limit('DAILY', null, 2)], [used('DAILY', '1', 2)], transfer('1')],
    ['WEEKLY', [limit('WEEKLY', '100')], [used('WEEKLY', '100', 1)], transfer('0.0001')],
    ['MONTHLY', [limit('MONTHLY', '0')], [], transfer('0.0001')],
    ['a hold', [limit('DAILY', '10')], [], transfer('11', { hold: true })],
    ['a withdrawal', [limit('DAILY', '10')], [], withdrawal('11')],
  ] as const)('refuses %s past its limit, recorded FAILED LIMIT_EXCEEDED', (_n, limits, usage, m) => {
    const r = refusal(decide(state({ limits: [...limits], usage: new Map(usage) }), m, ctx));
    expect(r).toMatchObject({ code: 'LIMIT_EXCEEDED', reason: 'LIMIT_EXCEEDED' });
  });

  it('names the first broken limit in the order PER_TRANSACTION, DAILY, WEEKLY, MONTHLY, with usage before', () => {
    const limits = [
      limit('MONTHLY', '1'),
      limit('WEEKLY', '1'),
      limit('DAILY', null, 0),
      limit('PER_TRANSACTION', '1'),
    ];
    const s = state({ limits, usage: new Map([used('DAILY', '0.5', 0)]) });
    expect(refusal(decide(s, transfer('2'), ctx)).limit).toEqual({
      window: 'PER_TRANSACTION',
      maxAmount: '1.0000',
      maxCount: null,
      usedAmount: null,
      usedCount: null,
      resetsAt: null,
    });
    expect(refusal(decide(s, transfer('0.5'), ctx)).limit).toEqual({
      window: 'DAILY',
      maxAmount: null,
      maxCount: 0,
      usedAmount: '0.5000',
      usedCount: 0,
      resetsAt: '2026-01-08T00:00:00.000Z',
    });
  });

  it('checks limits after status and currency and before funds', () => {
    const limits = [limit('DAILY', '1')];
    expect(refusal(decide(state({ limits, userStatus: 'SUSPENDED' }), transfer('5'), ctx)).code).toBe(
      'ACCOUNT_INACTIVE',
    );
    expect(refusal(decide(state({ limits, currency: 'EUR' }), transfer('5'), ctx)).code).toBe(
      'CURRENCY_MISMATCH',
    );
    expect(refusal(decide(state({ limits, balance: m$('0') }), transfer('5'), ctx)).code).toBe(
      'LIMIT_EXCEEDED',
    );
  });

  it('counts a spend in every limited window; gives a hold back to the windows of its creation', () => {
    const limits = [limit('DAILY', '500'), limit('MONTHLY', '500'), limit('PER_TRANSACTION', '500')];
    const d = decide(state({ limits }), transfer('30'), ctx);
    if (d.kind !== 'accepted') throw new Error('refused');
    expect(d.usage?.map((u) => [u.period, u.start.toISOString(), u.amount.toFixed4(), u.count])).toEqual([
      ['DAILY', '2026-01-07T00:00:00.000Z', '30.0000', 1],
      ['MONTHLY', '2026-01-01T00:00:00.000Z', '30.0000', 1],
    ]);
    const s = state({ limits, held: m$('40') }, hold());
    const voided = decide(s, { kind: 'void', caller: { id: BOB }, transactionId: HOLD }, ctx);
    if (voided.kind !== 'accepted') throw new Error('refused');
    expect(voided.usage?.map((u) => [u.period, u.start.toISOString(), u.amount.toFixed4(), u.count])).toEqual(
      [
        ['DAILY', '2026-01-05T00:00:00.000Z', '-40.0000', -1],
        ['MONTHLY', '2026-01-01T00:00:00.000Z', '-40.0000', -1],
      ],
    );
    const captured = decide(
      s,
      { kind: 'capture', caller: { id: BOB }, transactionId: HOLD, amount: m$('15') },
      ctx,
    );
    if (captured.kind !== 'accepted') throw new Error('refused');
    expect(captured.usage?.map((u) => [u.period, u.amount.toFixed4(), u.count])).toEqual([
      ['DAILY', '-25.0000', 0],
      ['MONTHLY', '-25.0000', 0],
    ]);
  });

  it('lets earlier movements of one write count for later ones (the plan applies usage at once)', () => {
    const s = state({ limits: [limit('DAILY', '100')] });
    const plan = new BatchPlan(s, NOW);
    const first = decide(s, transfer('60'), ctx);
    if (first.kind !== 'accepted') throw new Error('refused');
    plan.accept(first);
    expect(refusal(decide(s, transfer('40.0001'), ctx)).code).toBe('LIMIT_EXCEEDED');
    const second = decide(s, transfer('40'), ctx);
    if (second.kind !== 'accepted') throw new Error('refused');
    plan.accept(second);
    const built = plan.build();
    expect(kept(built, WA)).toEqual({
      DAILY: ['2026-01-07T00:00:00.000Z', '100.0000', 2],
      WEEKLY: null,
      MONTHLY: null,
    });
    expect([built.ended, built.giveBacks]).toEqual([[], []]);
  });

  it("keeps each period's latest window on the wallet's row and stores the one that ended", () => {
    const yesterday = new Date('2026-01-06T00:00:00.000Z');
    const s = state({
      limits: [limit('DAILY', '100'), limit('WEEKLY', '100')],
      usage: new Map([
        [usageKey('DAILY', yesterday), { amount: m$('10'), count: 1 }],
        used('WEEKLY', '10', 1),
      ]),
    });
    const plan = new BatchPlan(s, NOW);
    const spent = decide(s, transfer('5'), ctx);
    if (spent.kind !== 'accepted') throw new Error('refused');
    plan.accept(spent);
    const built = plan.build();
    expect(kept(built, WA)).toEqual({
      DAILY: ['2026-01-07T00:00:00.000Z', '5.0000', 1],
      WEEKLY: ['2026-01-05T00:00:00.000Z', '15.0000', 2],
      MONTHLY: null,
    });
    expect(kept(built, WB)).toEqual({ DAILY: null, WEEKLY: null, MONTHLY: null });
    expect(
      built.ended.map((e) => [e.walletId, e.period, e.start.toISOString(), e.amount.toFixed4(), e.count]),
    ).toEqual([[WA, 'DAILY', '2026-01-06T00:00:00.000Z', '10.0000', 1]]);
    expect(built.giveBacks).toEqual([]);
  });

  it('gives back to a window the row kept before (a hold of yesterday) in the window, and to older ones by row', () => {
    const monday = new Date('2026-01-05T00:00:00.000Z');
    const kept5 = state(
      {
        limits: [limit('DAILY', '500')],
        held: m$('40'),
        usage: new Map([[usageKey('DAILY', monday), { amount: m$('40'), count: 1 }]]),
      },
      hold(),
    );
    const plan = new BatchPlan(kept5, NOW);
    const voided = decide(kept5, { kind: 'void', caller: { id: BOB }, transactionId: HOLD }, ctx);
    if (voided.kind !== 'accepted') throw new Error('refused');
    plan.accept(voided);
    const built = plan.build();
    expect(kept(built, WA).DAILY).toEqual(['2026-01-05T00:00:00.000Z', '0.0000', 0]);
    expect([built.ended, built.giveBacks]).toEqual([[], []]);

    // The row keeps today's window: the hold's day has ended and is stored, so the give-back goes there.
    const today = state(
      { limits: [limit('DAILY', '500')], held: m$('40'), usage: new Map([used('DAILY', '7', 1)]) },
      hold(),
    );
    const plan2 = new BatchPlan(today, NOW);
    const voided2 = decide(today, { kind: 'void', caller: { id: BOB }, transactionId: HOLD }, ctx);
    if (voided2.kind !== 'accepted') throw new Error('refused');
    plan2.accept(voided2);
    const built2 = plan2.build();
    expect(kept(built2, WA).DAILY).toEqual(['2026-01-07T00:00:00.000Z', '7.0000', 1]);
    expect(built2.ended).toEqual([]);
    expect(
      built2.giveBacks.map((g) => [g.period, g.start.toISOString(), g.amount.toFixed4(), g.count]),
    ).toEqual([['DAILY', '2026-01-05T00:00:00.000Z', '-40.0000', -1]]);
  });
});

/** The windows the write keeps on a wallet's row, as [start, amount, count]. */
function kept(plan: ReturnType<BatchPlan['build']>, walletId: string) {
  const w = plan.wallets.find((x) => x.id === walletId);
  if (!w) throw new Error(`wallet ${walletId} not in the write`);
  const out: Record<string, [string, string, number] | null> = {};
  for (const [period, k] of Object.entries(w.windows)) {
    out[period] = k ? [k.start.toISOString(), k.amount.toFixed4(), k.count] : null;
  }
  return out;
}

describe('overdraft in the rules', () => {
  it('lets the balance go down to minus the overdraft (less holds), and refuses past it', () => {
    const s = state({ balance: m$('10'), held: m$('5'), overdraft: m$('50') });
    expect(decide(s, transfer('55'), ctx).kind).toBe('accepted');
    expect(refusal(decide(s, transfer('55.0001'), ctx)).code).toBe('INSUFFICIENT_FUNDS');
    expect(refusal(decide(s, withdrawal('55.0001'), ctx)).code).toBe('INSUFFICIENT_FUNDS');
    expect(refusal(decide(s, transfer('55.0001', { hold: true }), ctx)).code).toBe('INSUFFICIENT_FUNDS');
  });
});

describe('monitors in the batch plan', () => {
  const monitor = (extra: Partial<MonitorState>): MonitorState => ({
    id: 'ff000000-0000-4000-8000-000000000001',
    walletId: WA,
    field: 'balance',
    operator: 'lt',
    value: m$('50'),
    description: null,
    met: false,
    createdAt: NOW,
    lastTriggeredAt: null,
    ...extra,
  });

  it('writes one event per crossing, per movement, in order, and keeps the monitor as it ends', () => {
    const s = state({ balance: m$('60'), monitors: [monitor({})] });
    const plan = new BatchPlan(s, NOW);
    const moves: Movement[] = [
      transfer('20'), // 40: triggered
      transfer('5'), // 35: stays
      { kind: 'transfer', caller: { id: BOB }, toWalletId: WA, amount: m$('25'), currency: 'USD' }, // 60: cleared
      transfer('11'), // 49: triggered
    ];
    s.wallets.get(WB)!.balance = m$('100');
    for (const m of moves) {
      const d = decide(s, m, ctx);
      if (d.kind !== 'accepted') throw new Error('refused');
      plan.accept(d);
    }
    const built = plan.build();
    const crossings = built.events.filter((e) => e.type.startsWith('monitor.'));
    expect(crossings.map((e) => [e.type, (e.data.wallet as { balance: string }).balance])).toEqual([
      ['monitor.triggered', '40.0000'],
      ['monitor.cleared', '60.0000'],
      ['monitor.triggered', '49.0000'],
    ]);
    expect(built.monitors).toEqual([{ id: monitor({}).id, met: true, lastTriggeredAt: NOW }]);
  });

  it('watches availableBalance through holds and the overdraft', () => {
    const s = state({
      balance: m$('10'),
      overdraft: m$('20'),
      monitors: [monitor({ field: 'availableBalance', operator: 'lte', value: m$('0') })],
    });
    const plan = new BatchPlan(s, NOW);
    const d = decide(s, transfer('30', { hold: true }), ctx);
    if (d.kind !== 'accepted') throw new Error('refused');
    plan.accept(d);
    expect(plan.build().events.map((e) => e.type)).toEqual(['hold.created', 'monitor.triggered']);
  });
});
