import type { ValueTransformer } from 'typeorm';
import { Money } from '../common/money/money';

/** numeric(18,4) <-> Money. pg returns numeric as a string, so no JS number ever holds the value. */
export const moneyTransformer: ValueTransformer = {
  to: (value: Money | null | undefined): string | null | undefined =>
    value === null || value === undefined ? value : value.toFixed4(),
  from: (value: string | null): Money | null => (value === null ? null : Money.fromDb(value)),
};
