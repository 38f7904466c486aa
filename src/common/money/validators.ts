import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Matches, IsString, ValidateBy } from 'class-validator';
import currencyCodes from 'currency-codes';
import { MONEY_PATTERN } from './money';

// Codes for things that are not money a wallet can hold (XXX "no currency", XTS "testing", gold and other
// metals, bond-market units, IMF drawing rights) are refused: the ISO list marks them with "Zz" pseudo-countries
// or with supranational bodies.
const NOT_MONEY = new Set(['XDR', 'XSU', 'XUA']);
export const CURRENCIES: ReadonlySet<string> = new Set(
  currencyCodes.codes().filter((c) => {
    const countries = currencyCodes.code(c)?.countries ?? [];
    return countries.length > 0 && !countries.some((n) => n.startsWith('Zz')) && !NOT_MONEY.has(c);
  }),
);

export function isCurrency(value: unknown): value is string {
  return typeof value === 'string' && CURRENCIES.has(value);
}

/** A positive amount in the contract's strict string format (never a JSON number, sign or exponent). */
export function IsAmount(
  description = 'Decimal string, up to 14 integer digits and 4 decimals, greater than zero',
  required = true,
) {
  return applyDecorators(
    ApiProperty({ type: String, example: '10.5000', pattern: MONEY_PATTERN.source, description, required }),
    IsString({ message: 'must be a decimal string such as "10.50"' }),
    Matches(MONEY_PATTERN, {
      message: 'must be a decimal string with up to 14 integer digits and 4 decimals',
    }),
    ValidateBy({
      name: 'isPositiveAmount',
      validator: {
        validate: (v: unknown) => typeof v === 'string' && MONEY_PATTERN.test(v) && /[1-9]/.test(v),
        defaultMessage: () => 'must be greater than zero',
      },
    }),
  );
}

/** An ISO 4217 alphabetic code in upper case, checked against the real list. */
export function IsCurrency() {
  return applyDecorators(
    ApiProperty({
      example: 'USD',
      description: 'ISO 4217 alphabetic code, upper case',
      pattern: '^[A-Z]{3}$',
    }),
    ValidateBy({
      name: 'isCurrency',
      validator: {
        validate: isCurrency,
        defaultMessage: () => 'must be an ISO 4217 currency code in upper case',
      },
    }),
  );
}
