import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that counts the statements each client sends, by the
 * application_name of its startup message: a simple Query ('Q') or an Execute ('E') of the extended
 * protocol is one statement. Nothing is changed on the wire. It counts what the service really sends,
 * which pg_stat_database (flushed up to 10 s late, per database) cannot tell apart by component.
 */
export class PgStatementCounter {
  private readonly counts = new Map<string, number>();
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(
    private readonly target: { host: string; port: number },
    /** Only the messages sent while this is true are counted. */
    public counting = true,
  ) {
    this.server = createServer((client) => this.relay(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    return (this.server.address() as AddressInfo).port;
  }

  /** Statements per application_name since the last reset. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  reset(): void {
    this.counts.clear();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((done) => this.server.close(done));
  }

  private relay(client: Socket): void {
    const server = connect(this.target.port, this.target.host);
    this.sockets.add(client).add(server);
    let name = '';
    let started = false;
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      server.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (!started) {
          if (pending.length < 8) return;
          const len = pending.readInt32BE(0);
          if (pending.length < len) return;
          const code = pending.readInt32BE(4);
          if (code === 196608) {
            const params = pending
              .subarray(8, len - 1)
              .toString('utf8')
              .split('\0');
            for (let i = 0; i + 1 < params.length; i += 2)
              if (params[i] === 'application_name') name = params[i + 1];
            started = true;
          }
          pending = pending.subarray(len);
          continue;
        }
        if (pending.length < 5) return;
        const len = pending.readInt32BE(1);
        if (pending.length < 1 + len) return;
        const type = String.fromCharCode(pending[0]);
        if (this.counting && (type === 'Q' || type === 'E'))
          this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
        pending = pending.subarray(1 + len);
      }
    });
    server.on('data', (chunk: Buffer) => client.write(chunk));
    const end = (): void => {
      client.destroy();
      server.destroy();
      this.sockets.delete(client);
      this.sockets.delete(server);
    };
    client.on('close', end).on('error', end);
    server.on('close', end).on('error', end);
  }
}
