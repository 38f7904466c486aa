import { ValidateBy, type ValidationOptions } from 'class-validator';

/** At least `min` characters, counted as Unicode code points (an emoji is one character, not two). */
export function MinChars(min: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'minChars',
      constraints: [min],
      validator: {
        validate: (value: unknown) => typeof value === 'string' && [...value].length >= min,
        defaultMessage: () => `$property must be at least ${min} characters long`,
      },
    },
    options,
  );
}

/** At most `max` bytes once encoded in UTF-8 (bcrypt's limit is in bytes, not characters). */
export function MaxUtf8Bytes(max: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'maxUtf8Bytes',
      constraints: [max],
      validator: {
        validate: (value: unknown) => typeof value === 'string' && Buffer.byteLength(value, 'utf8') <= max,
        defaultMessage: () => `$property must be at most ${max} bytes in UTF-8`,
      },
    },
    options,
  );
}
