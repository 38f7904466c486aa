import type { Money } from '../../common/money/money';

export type MonitorOperator = 'lt' | 'lte' | 'gt' | 'gte';

/** Whether `value operator target` holds: the one comparison of monitors, for the API and the engine. */
export function conditionMet(value: Money, operator: MonitorOperator, target: Money): boolean {
  const c = value.cmp(target);
  switch (operator) {
    case 'lt':
      return c < 0;
    case 'lte':
      return c <= 0;
    case 'gt':
      return c > 0;
    case 'gte':
      return c >= 0;
  }
}
