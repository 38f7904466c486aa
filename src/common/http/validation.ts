import { ValidationError, ValidationPipe } from '@nestjs/common';
import { AppError, type FieldError } from '../errors/error-codes';

function flatten(errors: ValidationError[], prefix = ''): FieldError[] {
  return errors.flatMap((e) => {
    // Array items are named by index, as clients write them: transfers[3].amount.
    const field = /^\d+$/.test(e.property)
      ? `${prefix}[${e.property}]`
      : prefix
        ? `${prefix}.${e.property}`
        : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/**
 * Whitelisting, unknown fields refused (never silently dropped: a client sending `balance` or `role`
 * learns it is not assignable), payloads turned into DTO instances.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    stopAtFirstError: true,
    exceptionFactory: (errors) => {
      const fieldErrors = flatten(errors).map((e) =>
        e.message.startsWith('property ') && e.message.endsWith(' should not exist')
          ? { field: e.field, message: 'is not an accepted field' }
          : e,
      );
      return new AppError('VALIDATION_FAILED', fieldErrors.map((e) => `${e.field} ${e.message}`).join('; '), {
        errors: fieldErrors,
      });
    },
  });
}
