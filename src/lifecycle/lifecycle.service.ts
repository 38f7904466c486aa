import { Injectable } from '@nestjs/common';

/** Whether the instance is shutting down: readiness reports 503 from the first moment of a SIGTERM. */
@Injectable()
export class LifecycleService {
  private shuttingDown = false;

  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }
}
