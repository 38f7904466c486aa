import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { ADMIN, buildOnce, Client2, Postgres, SECRET, Service, setUp, sleep } from './support/harness';

/**
 * Clients that misbehave at the socket level, and what the service writes to its logs. These need the
 * real server process: its sockets, its timers and its stdout.
 */
describe('hostile clients and secrets in logs', () => {
  const pg = new Postgres();
  let service: Service;
  let client: Client2;

  beforeAll(async () => {
    buildOnce();
    await pg.start();
    // Debug logging on purpose: the most verbose configuration must still log no secret.
    service = new Service(pg, { REQUEST_TIMEOUT_MS: '2000', DEBUG: 'true', LOG_LEVEL: 'debug' });
    await service.start();
    client = new Client2(() => service.url);
  });
  afterAll(async () => {
    service?.signal('SIGKILL');
    await pg.stopFast().catch(() => undefined);
  });

  /** Opens a socket, writes `chunks` one every `everyMs`, and resolves when the server closes it. */
  const trickle = (chunks: string[], everyMs: number) =>
    new Promise<{ closedAfterMs: number; received: string; sent: number }>((resolve, reject) => {
      const started = Date.now();
      const socket: Socket = connect(service.port, '127.0.0.1');
      let received = '';
      let sent = 0;
      const timer = setInterval(() => {
        if (sent < chunks.length && !socket.destroyed) socket.write(chunks[sent++]);
      }, everyMs);
      socket.on('data', (d: Buffer) => (received += d.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ closedAfterMs: Date.now() - started, received, sent });
      });
      setTimeout(() => reject(new Error('the server kept a trickling client for 20 s')), 20_000).unref();
    });

  it('closes a connection whose headers arrive a byte at a time (slowloris) after REQUEST_TIMEOUT_MS', async () => {
    const head = `GET /api/v1/wallets/me HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}`;
    const r = await trickle([...head], 100);
    process.stdout.write(`slow headers: closed after ${r.closedAfterMs} ms, ${r.sent} bytes sent\n`);
    expect(r.sent).toBeLessThan(head.length); // cut off before the client finished
    expect(r.received === '' || r.received.startsWith('HTTP/1.1 408')).toBe(true);
  });

  it('closes a connection whose body never finishes', async () => {
    const body = JSON.stringify({ email: 'slow@example.com', password: 'x'.repeat(50) });
    const head = `POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const r = await trickle([head, ...body], 150);
    process.stdout.write(`slow body: closed after ${r.closedAfterMs} ms, ${r.sent} chunks sent\n`);
    expect(r.sent).toBeLessThan(body.length + 1);
  });

  it('keeps serving others while slow clients hang on', async () => {
    const slow = Array.from({ length: 20 }, () => trickle([...'GET / HTTP/1.1\r\nHost: x\r\n'], 500));
    await sleep(200);
    const res = await fetch(`${service.url}/health/live`);
    expect(res.status).toBe(200);
    await Promise.all(slow);
  });

  it('never logs a password, a token, the signing key or a password hash, even at debug level', async () => {
    const password = `Pw-${randomUUID()}`;
    const email = `log-${randomUUID().slice(0, 8)}@example.com`;
    await client.call('POST', '/auth/register', undefined, { email, password, fullName: 'Log Check' });
    const login = await client.call('POST', '/auth/login', undefined, { email, password });
    const token = login.body.accessToken as string;
    expect(typeof token).toBe('string');
    await client.call('POST', '/auth/login', undefined, { email, password: `${password}-wrong` });
    await client.call('POST', '/wallets', token, { currency: 'USD' });
    await client.call('GET', '/wallets/me', token);
    await client.call('GET', '/wallets/me', `${token.slice(0, -2)}xx`);
    const { users } = await setUp(client, 2);
    await client.call(
      'POST',
      '/transfers',
      users[0].token,
      { toWalletId: users[1].wallet, amount: '1', currency: 'USD' },
      randomUUID(),
    );
    await sleep(300); // let the last log lines reach the pipe
    const log = service.output;
    expect(log.length).toBeGreaterThan(0);
    expect(log).toContain('/api/v1/auth/login'); // the requests were logged, just not their secrets
    for (const secret of [password, token, token.split('.')[2], users[0].token, SECRET, ADMIN.password]) {
      expect(log).not.toContain(secret);
    }
    expect(log).not.toMatch(/\$2[aby]\$\d\d\$/); // bcrypt hashes
    expect(log).not.toMatch(/authorization/i);
  });
});
