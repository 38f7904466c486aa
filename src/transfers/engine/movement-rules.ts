import type { Decision, EngineState, Movement } from './engine.types';
import { decideCapture, decideExpiry, decideVoid } from './movement-rules.holds';
import { decideRefund } from './movement-rules.refund';
import { decideDeposit, decideTransfer, decideWithdrawal } from './movement-rules.sends';
import type { RuleContext } from './movement-rules.shared';

export type { RuleContext } from './movement-rules.shared';

/**
 * The movement rules: a pure function of (state, movement) to one decision. No I/O, no clock, no random:
 * the time and new ids come in the context, so every refusal can be unit-tested without a database and a
 * batch of movements can be decided one after another against the same in-memory state. One file per
 * family: sends (transfers, holds, deposits, withdrawals), holds settled, refunds; limits and the shared
 * rules beside them.
 */

export function decide(state: EngineState, m: Movement, ctx: RuleContext): Decision {
  switch (m.kind) {
    case 'transfer':
      return decideTransfer(state, m, ctx);
    case 'deposit':
      return decideDeposit(state, m, ctx);
    case 'withdrawal':
      return decideWithdrawal(state, m, ctx);
    case 'capture':
      return decideCapture(state, m, ctx);
    case 'void':
      return decideVoid(state, m, ctx);
    case 'expiry':
      return decideExpiry(state, m, ctx);
    case 'refund':
      return decideRefund(state, m, ctx);
    case 'batch':
      throw new Error('a batch is decided item by item (movement-engine.ts)');
  }
}
