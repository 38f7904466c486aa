import Big from 'big.js';

/** The contract's money format: up to 14 integer digits, up to 4 decimals, ASCII digits only, no sign. */
export const MONEY_PATTERN = /^(0|[1-9][0-9]{0,13})(\.[0-9]{1,4})?$/;
/** numeric(18,4) holds 14 integer digits: the largest balance a wallet may reach. */
const MAX = new Big('99999999999999.9999');

/**
 * An exact amount of money with 4 decimals, on big.js. Amounts are never held in a JS number:
 * they are parsed from strict decimal strings and printed with exactly 4 decimals.
 */
export class Money {
  private constructor(private readonly value: Big) {}

  static readonly ZERO = new Money(new Big(0));

  /** Parses the contract's format; anything else (sign, exponent, spaces, 5th decimal, NaN) is refused. */
  static parse(input: string): Money {
    if (!Money.isValid(input)) throw new RangeError(`not a valid amount: ${JSON.stringify(input)}`);
    return new Money(new Big(input));
  }

  static isValid(input: unknown): input is string {
    return typeof input === 'string' && MONEY_PATTERN.test(input);
  }

  /** Reads a value PostgreSQL returned for a numeric(18,4) column (always a plain decimal string). */
  static fromDb(input: string): Money {
    if (!/^-?[0-9]+(\.[0-9]+)?$/.test(input)) throw new RangeError(`not a database amount: ${input}`);
    return new Money(new Big(input));
  }

  plus(other: Money): Money {
    return new Money(this.value.plus(other.value));
  }

  minus(other: Money): Money {
    return new Money(this.value.minus(other.value));
  }

  neg(): Money {
    return new Money(this.value.times(-1));
  }

  cmp(other: Money): -1 | 0 | 1 {
    return this.value.cmp(other.value);
  }

  lt(other: Money): boolean {
    return this.value.lt(other.value);
  }

  gt(other: Money): boolean {
    return this.value.gt(other.value);
  }

  eq(other: Money): boolean {
    return this.value.eq(other.value);
  }

  isZero(): boolean {
    return this.value.eq(0);
  }

  isNegative(): boolean {
    return this.value.lt(0);
  }

  /** True when the value fits numeric(18,4): no more than 14 integer digits. */
  fitsBalance(): boolean {
    return this.value.abs().lte(MAX);
  }

  /** Exactly 4 decimals, no exponent: `"10.5000"`. */
  toFixed4(): string {
    return this.value.toFixed(4);
  }

  toString(): string {
    return this.toFixed4();
  }

  toJSON(): string {
    return this.toFixed4();
  }
}
