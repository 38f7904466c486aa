import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';

export class ConfigError extends Error {}

/**
 * Reads the variables `cls` declares from `env` (nothing else), with their defaults, and validates them;
 * throws one ConfigError whose message has one line per bad variable.
 */
export function validateSettings<T extends object>(
  cls: new () => T,
  env: Record<string, string | undefined>,
): T {
  const known = Object.keys(new cls());
  const input: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && known.includes(k)) input[k] = v;
  const parsed = plainToInstance(cls, input, { exposeDefaultValues: true });
  const errors = validateSync(parsed, { skipMissingProperties: false, forbidUnknownValues: false });
  if (errors.length > 0) {
    const lines = errors.map((e) => {
      // A type error says more than a range error on a value that is not even a number.
      const constraints = e.constraints ?? {};
      const typeKey = ['isInt', 'isBoolean', 'isIn', 'isString', 'isEmail'].find((k) => k in constraints);
      const constraint = (typeKey ? constraints[typeKey] : Object.values(constraints)[0]) ?? 'is invalid';
      return `Invalid configuration: ${e.property} ${constraint.replace(new RegExp(`^${e.property} `), '')}`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  return parsed;
}
