import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { from, type Observable, switchMap } from 'rxjs';
import type { AuthUser } from '../common/auth/auth-user';
import { ReadRouter } from './replicas';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Read-your-writes for every route that writes (transfers, holds, refunds, wallet creation, admin
 * changes): once the handler has answered without error, and before the response leaves, the caller's
 * position in the primary's WAL is noted (ReadRouter.noteWrite), so the caller's next read never runs on a
 * replica that has not replayed it. A no-op without replicas.
 */
@Injectable()
export class WriteMarkerInterceptor implements NestInterceptor {
  constructor(private readonly reads: ReadRouter) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<{ method?: string; user?: AuthUser }>();
    const user = request.user;
    if (!this.reads.enabled || !user || READS.has(request.method ?? 'GET')) return next.handle();
    return next
      .handle()
      .pipe(switchMap((body: unknown) => from(this.reads.noteWrite(user.id).then(() => body))));
  }
}
