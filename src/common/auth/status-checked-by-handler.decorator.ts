import { SetMetadata } from '@nestjs/common';

export const STATUS_CHECKED_BY_HANDLER = 'statusCheckedByHandler';

/**
 * For routes whose handler re-checks the caller's account status itself, inside its database write (the
 * transfer engine does): the JWT guard then skips its own status look-up, saving a database round trip
 * on the hot path. An inactive caller is still refused, by the handler (422 ACCOUNT_INACTIVE, recorded).
 */
export const StatusCheckedByHandler = (): MethodDecorator => SetMetadata(STATUS_CHECKED_BY_HANDLER, true);
