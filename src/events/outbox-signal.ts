import { Injectable, Module } from '@nestjs/common';

/**
 * Tells this instance's event sequencer that a change with events was just written, so it numbers them
 * within one sequencing interval instead of at its idle pace (an idle instance polls about once a second,
 * issue 26: N idle instances must not cost the database 50 x N queries a second). Every instance wakes its
 * own sequencer after its own writes; what other instances write, they number.
 */
@Injectable()
export class OutboxSignal {
  private listener?: () => void;

  /** Events were written (committed, or on the locked path about to be). */
  written(): void {
    this.listener?.();
  }

  onWritten(listener: () => void): void {
    this.listener = listener;
  }
}

/** The signal, one per application: imported by the writers (transfers, users) and by the sequencer. */
@Module({ providers: [OutboxSignal], exports: [OutboxSignal] })
export class OutboxModule {}
