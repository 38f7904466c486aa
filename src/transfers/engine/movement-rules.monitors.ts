import { outboxEvent, type OutboxEvent } from '../../events/outbox';
import { MonitorDto } from '../../wallets/monitors/dto/monitor.dto';
import { conditionMet } from '../../wallets/monitors/monitor-condition';
import type { MonitorState, WalletState } from './engine.types';
import { available } from './movement-rules.shared';

/**
 * Balance monitors (contract v1.2): edge-triggered. After each movement, a monitor whose condition flips
 * gets one event (triggered on becoming met, cleared on ceasing to be); one that stays as it was, none.
 */

/** Whether the wallet's field meets the monitor's condition now. */
export function meets(wallet: WalletState, m: Pick<MonitorState, 'field' | 'operator' | 'value'>): boolean {
  return conditionMet(m.field === 'balance' ? wallet.balance : available(wallet), m.operator, m.value);
}

/**
 * The wallet's monitors that flip with its current values, updated in place on the wallet (`met`, and
 * `lastTriggeredAt` for a trigger) so the next movement of the same write compares against them.
 */
export function monitorsCrossed(wallet: WalletState, now: Date): MonitorState[] {
  const crossed: MonitorState[] = [];
  for (const monitor of wallet.monitors) {
    const met = meets(wallet, monitor);
    if (met === monitor.met) continue;
    monitor.met = met;
    if (met) monitor.lastTriggeredAt = now;
    crossed.push({ ...monitor });
  }
  return crossed;
}

/** The event of one crossing: the monitor after it, the wallet's values right after the movement. */
export function monitorEvent(wallet: WalletState, monitor: MonitorState, transactionId: string): OutboxEvent {
  return outboxEvent(monitor.met ? 'monitor.triggered' : 'monitor.cleared', [wallet.id], [wallet.userId], {
    monitor: MonitorDto.from(monitor),
    wallet: {
      id: wallet.id,
      balance: wallet.balance.toFixed4(),
      availableBalance: available(wallet).toFixed4(),
    },
    transactionId,
  });
}
