import { ValidateBy } from 'class-validator';

/**
 * The instants the API reads (statement `from`/`to`): a calendar date (`2024-05-01`, midnight UTC) or a
 * date-time with optional seconds and fraction and a `Z` or `±hh:mm` offset (none: UTC, as every timestamp
 * of the contract). Deliberately narrower than ISO 8601: class-validator's IsISO8601 also accepts week
 * dates (`2020-W01`), basic format (`20200101`), hour-only times and comma fractions, which `new Date`
 * cannot read, and the Invalid Date then reached the query as a 500.
 */
const INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):(\d{2}))?)?$/;

/** The instant a string names, or null when it is not one of the forms above or not a real date/time. */
export function parseInstant(input: unknown): Date | null {
  if (typeof input !== 'string') return null;
  const m = INSTANT.exec(input);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0));
  const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const offsetSign = m[9] === '-' ? -1 : 1;
  const [offsetHours, offsetMinutes] = [Number(m[10] ?? 0), Number(m[11] ?? 0)];
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) return null;
  const local = new Date(0);
  // setUTCFullYear, not Date.UTC, which maps years 0..99 to 1900..1999. Both roll Feb 30 over to Mar 1:
  // a real date reads back equal.
  local.setUTCFullYear(year, month - 1, day);
  local.setUTCHours(hour, minute, second, ms);
  if (local.getUTCFullYear() !== year || local.getUTCMonth() !== month - 1 || local.getUTCDate() !== day) {
    return null;
  }
  const instant = new Date(local.getTime() - offsetSign * (offsetHours * 60 + offsetMinutes) * 60_000);
  // PostgreSQL's timestamptz and the pg driver agree on years 1..9999 (AD); outside, refuse.
  const utcYear = instant.getUTCFullYear();
  return utcYear >= 1 && utcYear <= 9999 ? instant : null;
}

/** A query field that parseInstant can read; anything else is 400 VALIDATION_FAILED naming the field. */
export function IsInstant(): PropertyDecorator {
  return ValidateBy({
    name: 'isInstant',
    validator: {
      validate: (value: unknown) => parseInstant(value) !== null,
      defaultMessage: () =>
        'must be a date (YYYY-MM-DD) or a date-time (YYYY-MM-DDThh:mm[:ss[.fraction]] with Z or ±hh:mm)',
    },
  });
}
