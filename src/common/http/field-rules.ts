import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsInt, IsString, IsUUID, Max, MaxLength, Min, ValidateBy, ValidateIf } from 'class-validator';

/**
 * An optional body field: absent is fine, anything present (null included) must pass the field's rules.
 * class-validator's IsOptional also lets null through, and null then reached code that expects the
 * field's type (`{"amount": null}` on capture was a 500): null is not an amount, nor a description.
 */
export function Optional(): PropertyDecorator {
  return ValidateIf((_object: unknown, value: unknown) => value !== undefined);
}

const lowerCase = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? value.toLowerCase() : value;

/**
 * A UUID in a body, lower-cased before it reaches a service: ids are compared case-insensitively by the
 * contract, but as strings by the code (an upper-cased own wallet id was not SAME_WALLET).
 */
export function IsId(): PropertyDecorator {
  return applyDecorators(Transform(lowerCase), IsUUID('all', { message: 'must be a UUID' }));
}

// A lone surrogate (half of a UTF-16 pair) has no UTF-8 form: the driver would store U+FFFD instead of
// what was sent. NUL cannot be stored in a PostgreSQL text at all (the insert failed: a 500).
// eslint-disable-next-line no-control-regex
export const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A string PostgreSQL stores exactly as sent: no NUL character, no unpaired surrogate. */
export function IsStorableText(): PropertyDecorator {
  return ValidateBy({
    name: 'isStorableText',
    validator: {
      validate: (value: unknown) => typeof value !== 'string' || !UNSTORABLE.test(value),
      defaultMessage: () => 'must not contain NUL characters or unpaired UTF-16 surrogates',
    },
  });
}

// class-validator runs a property's rules bottom-up with stopAtFirstError: the helpers below list the
// type check first on purpose, so that `null` or an array is told what type is expected rather than
// "must be shorter than 500 characters".

/** A string of at most `max` characters that PostgreSQL stores exactly as sent. */
export function IsText(max: number): PropertyDecorator {
  return applyDecorators(IsString(), MaxLength(max), IsStorableText());
}

/** An integer in [min, max] (a JSON number; a numeric string is not one). */
export function IsIntBetween(min: number, max: number): PropertyDecorator {
  return applyDecorators(IsInt(), Min(min), Max(max));
}

export const METADATA_KEY = /^[A-Za-z0-9_.-]{1,40}$/;
export const METADATA_MAX_KEYS = 20;

/** Why a metadata object breaks the contract (v1.1: at most 20 keys of [A-Za-z0-9_.-]{1,40}, string values of 1..500). */
export function metadataProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'must be an object of strings';
  const entries = Object.entries(value);
  if (entries.length > METADATA_MAX_KEYS) return `must have at most ${METADATA_MAX_KEYS} keys`;
  for (const [key, v] of entries) {
    if (!METADATA_KEY.test(key))
      return `key "${key.slice(0, 50)}" must be 1 to 40 characters of A-Z a-z 0-9 _ . -`;
    if (typeof v !== 'string' || v.length < 1 || v.length > 500) {
      return `value of "${key}" must be a string of 1 to 500 characters`;
    }
    if (UNSTORABLE.test(v))
      return `value of "${key}" must not contain NUL characters or unpaired UTF-16 surrogates`;
  }
  return undefined;
}

/** The client's own keys on a money-moving request. */
export function IsMetadata(): PropertyDecorator {
  let problem: string | undefined;
  return ValidateBy({
    name: 'isMetadata',
    validator: {
      validate: (value: unknown) => (problem = metadataProblem(value)) === undefined,
      defaultMessage: () => problem ?? 'is not valid metadata',
    },
  });
}
