import fc from 'fast-check';
import { Money, MONEY_PATTERN } from '../../src/common/money/money';

// Amounts as BigInt ten-thousandths: the exact model Money must agree with.
const MAX_UNITS = 999_999_999_999_999_999n;
const units = fc.bigInt({ min: 1n, max: MAX_UNITS });
const toText = (u: bigint): string => {
  const s = u.toString().padStart(5, '0');
  return `${BigInt(s.slice(0, -4))}.${s.slice(-4)}`;
};
const seed = process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {};

describe('Money (property)', () => {
  it('prints every valid amount with exactly 4 decimals and parses it back to the same value', () => {
    fc.assert(
      fc.property(units, (u) => {
        const m = Money.parse(toText(u));
        expect(m.toFixed4()).toBe(toText(u));
        expect(Money.parse(m.toFixed4()).eq(m)).toBe(true);
      }),
      seed,
    );
  });

  it('adds and subtracts exactly, like integer arithmetic on ten-thousandths', () => {
    fc.assert(
      fc.property(units, units, (a, b) => {
        const ma = Money.parse(toText(a));
        const mb = Money.parse(toText(b));
        const sum = ma.plus(mb).toFixed4();
        const diff = ma.minus(mb);
        expect(sum).toBe(toText(a + b));
        expect(diff.isNegative()).toBe(a < b);
        expect(diff.neg().isNegative()).toBe(b < a);
        expect(ma.cmp(mb)).toBe(a < b ? -1 : a > b ? 1 : 0);
        expect(ma.plus(mb).fitsBalance()).toBe(a + b <= MAX_UNITS);
      }),
      seed,
    );
  });

  it('refuses every string that is not in the contract format', () => {
    const junk = fc.oneof(
      fc.string(),
      fc.constantFrom(
        '-1',
        '+1',
        '1e3',
        'NaN',
        'Infinity',
        ' 1',
        '1 ',
        '.5',
        '01',
        '1.',
        '1.00000',
        '１',
        '١',
      ),
      units.map((u) => `${toText(u)}0`),
      units.map((u) => `-${toText(u)}`),
    );
    fc.assert(
      fc.property(junk, (s) => {
        fc.pre(!MONEY_PATTERN.test(s));
        expect(Money.isValid(s)).toBe(false);
        expect(() => Money.parse(s)).toThrow(RangeError);
      }),
      seed,
    );
  });
});
