import { randomUUID } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, fundedUser, type TestUser } from '../support/factories';
import { expectLedgerConsistent } from '../support/ledger-checks';
import { seedDeposits } from '../support/statement-seed';

const API = '/api/v1';
/** Rows in each big statement: 40,000 CSV lines (about 9 MB) fill every socket buffer between the two ends. */
const ROWS = 40_000;

interface Stalled {
  status: number;
  retryAfter?: string;
  socket: net.Socket;
}

/**
 * A CSV export whose reader never reads past the first chunk (the status line): its socket stays paused,
 * so the service's writes stop draining once the kernel buffers are full.
 */
function stalledExport(port: number, user: TestUser): Promise<Stalled> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('error', () => undefined);
    socket.once('connect', () =>
      socket.write(
        `GET ${API}/wallets/me/transactions HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/csv\r\n` +
          `Authorization: Bearer ${user.token}\r\n\r\n`,
      ),
    );
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      const head = chunk.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (!status) return reject(new Error(`not an HTTP answer: ${head.slice(0, 80)}`));
      resolve({ status: Number(status[1]), retryAfter: /\r\nretry-after: *(\S+)/i.exec(head)?.[1], socket });
    });
  });
}

function countBy<T>(items: T[], key: (item: T) => string | number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

describe('CSV exports are bounded and never starve other requests', () => {
  let t: TestApp;
  let admin: TestUser;
  let port: number;
  const sockets: net.Socket[] = [];

  beforeAll(async () => {
    t = await startTestApp({
      DB_POOL_SIZE: '10',
      EXPORTS_PER_USER: '2',
      EXPORTS_PER_INSTANCE: '3',
      EXPORT_STALL_TIMEOUT_MS: '5000',
      // Fastify's idle-socket timeout would cut a stalled reader too: here only the export's own watch does.
      REQUEST_TIMEOUT_MS: '600000',
    });
    admin = await createUser(t, { role: 'ADMIN' });
    await t.app.listen(0, '127.0.0.1');
    port = (t.app.getHttpServer().address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await expectLedgerConsistent(t, admin);
    await t.close();
  });

  it('refuses the excess with 429 and Retry-After, serves transfers and other users meanwhile, and drops readers that stall', async () => {
    const heavy = await fundedUser(t, admin, '0');
    const other = await fundedUser(t, admin, '0');
    await seedDeposits(t, heavy.wallet.id, ROWS, { stepMs: 1, endMsAgo: 1000 });
    await seedDeposits(t, other.wallet.id, ROWS, { stepMs: 1, endMsAgo: 1000 });
    const payer = await fundedUser(t, admin, '1000');
    const payee = await fundedUser(t, admin, '0');
    const bystander = await fundedUser(t, admin, '50');

    // Ten stalled exports by one user (more than the service's pool has connections), then two by another.
    const heavyExports: Stalled[] = [];
    for (let i = 0; i < 10; i++) heavyExports.push(await stalledExport(port, heavy.user));
    const otherExports = [await stalledExport(port, other.user), await stalledExport(port, other.user)];
    const bystanderExport = await stalledExport(port, bystander.user);
    const all = [...heavyExports, ...otherExports, bystanderExport];
    sockets.push(...all.map((e) => e.socket));

    // Per user: two at a time; per instance: three. Every refusal says when to come back.
    expect(countBy(heavyExports, (e) => e.status)).toEqual({ 200: 2, 429: 8 });
    expect(countBy(otherExports, (e) => e.status)).toEqual({ 200: 1, 429: 1 });
    expect(bystanderExport.status).toBe(429);
    for (const e of all.filter((x) => x.status === 429)) {
      expect(Number(e.retryAfter)).toBeGreaterThanOrEqual(1);
      e.socket.destroy();
    }
    const open = all.filter((e) => e.status === 200);
    expect(open).toHaveLength(3);

    // Meanwhile (the three exports stalled, holding what they hold): money moves and others read.
    const transfers = await Promise.all(
      Array.from({ length: 20 }, () =>
        request(t.server)
          .post(`${API}/transfers`)
          .auth(payer.user.token, { type: 'bearer' })
          .set('Idempotency-Key', randomUUID())
          .send({ toWalletId: payee.wallet.id, amount: '1.00', currency: 'USD' }),
      ),
    );
    const reads = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        request(t.server)
          .get(`${API}/wallets/me/${i % 2 === 0 ? 'transactions' : 'balance'}`)
          .auth(bystander.user.token, { type: 'bearer' }),
      ),
    );
    expect(countBy(transfers, (r) => r.status)).toEqual({ 201: 20 });
    expect(countBy(reads, (r) => r.status)).toEqual({ 200: 10 });

    // A reader that stops draining is cut off, and its place is free again. The client's paused socket
    // does not see the close, so the test asks with empty exports (refused with 429 until then).
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const csv = (user: TestUser, query: Record<string, string> = {}) =>
      request(t.server)
        .get(`${API}/wallets/me/transactions`)
        .query(query)
        .set('Accept', 'text/csv')
        .auth(user.token, { type: 'bearer' })
        .buffer(true)
        .parse((res, done) => {
          let lines = 0;
          res.on('data', (chunk: Buffer) => {
            for (const byte of chunk) if (byte === 10) lines += 1;
          });
          res.on('end', () => done(null, lines));
        });
    const refusals: number[] = [];
    for (let i = 0; i < 120; i++) {
      const status = (await csv(heavy.user, { from: future })).status;
      if (status !== 429) break;
      refusals.push(status);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(refusals.length).toBeLessThan(120);
    const full = await csv(heavy.user);
    expect(full.status).toBe(200);
    expect(full.body).toBe(ROWS + 1);
  });
});
