import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';

/** Environment values are strings: the settings below read them into the type they validate. */
const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
const toBool = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  return value;
};
const emptyToUndefined = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

/** A whole number from min to max, both included ("42", " 42 "; "4.2" and "42abc" are refused). */
export const IntSetting = (min: number, max: number): PropertyDecorator =>
  applyDecorators(Transform(toInt), IsInt(), Min(min), Max(max));

/** 1/true/yes/on or 0/false/no/off/empty, in any case. */
export const BoolSetting = (): PropertyDecorator => applyDecorators(Transform(toBool), IsBoolean());

/** Unset when empty; otherwise checked by the given validators. */
export const OptionalSetting = (...validators: PropertyDecorator[]): PropertyDecorator =>
  applyDecorators(Transform(emptyToUndefined), IsOptional(), ...validators);
