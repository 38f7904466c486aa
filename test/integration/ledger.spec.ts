import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import request from 'supertest';
import {
  LedgerVerificationError,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from '../../clients/typescript/src/index';
import { LedgerAppender } from '../../src/ledger/ledger-appender';
import { LedgerDivergenceError } from '../../src/ledger/ledger-store';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, fundedUser, type TestUser, type TestWallet } from '../support/factories';

/**
 * Issue 25: the verifiable ledger through the real service on real PostgreSQL, checked with the client's
 * verifiers (which the unit suite checks on independent vectors): checkpoints signed with the log's key,
 * every event's inclusion and every pair of checkpoints' consistency, the access rules, the key shared by
 * instances, and `npm run ledger:verify` naming an event changed behind the service's back.
 */

const API = '/api/v1';
const ROOT = join(__dirname, '..', '..');
const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (
  ...args: string[]
) => (...values: unknown[]) => Promise<unknown>;
const EMPTY_ROOT = '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=';

interface Checkpoint {
  origin: string;
  treeSize: number;
  rootHash: string;
  note: string;
  createdAt: string;
}
interface Event {
  sequence: number;
  id: string;
  [k: string]: unknown;
}

const get = (t: TestApp, path: string, user?: TestUser) => {
  const r = request(t.server).get(`${API}${path}`);
  return user ? r.auth(user.token, { type: 'bearer' }) : r;
};

async function numbered(t: TestApp): Promise<number> {
  const { rows } = await t.sql.query<{ n: number }>(
    `SELECT coalesce(max(sequence), 0)::int AS n FROM numbered_events`,
  );
  return rows[0].n;
}

/** Waits (by counting, polling the database) until every event is numbered and in a signed checkpoint. */
async function settled(t: TestApp): Promise<Checkpoint> {
  for (let i = 0; i < 400; i++) {
    const { rows } = await t.sql.query<{ unnumbered: number }>(
      `SELECT count(*)::int AS unnumbered FROM events e WHERE NOT EXISTS (SELECT 1 FROM event_sequence s WHERE s.event_id = e.id)`,
    );
    const head = (await get(t, '/ledger/checkpoint').expect(200)).body as Checkpoint;
    if (rows[0].unnumbered === 0 && head.treeSize === (await numbered(t))) return head;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the ledger did not catch up with the events');
}

function transfer(t: TestApp, from: TestUser, to: TestWallet, amount: string) {
  return request(t.server)
    .post(`${API}/transfers`)
    .auth(from.token, { type: 'bearer' })
    .set('Idempotency-Key', `${from.id}-${to.id}-${amount}-${Math.random()}`)
    .send({ toWalletId: to.id, amount, currency: 'USD' })
    .expect(201);
}

function ledgerVerify(t: TestApp): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'ledger-verify.mjs')], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      POSTGRES_HOST: t.db.host,
      POSTGRES_PORT: String(t.db.port),
      POSTGRES_USER: t.db.user,
      POSTGRES_PASSWORD: t.db.password,
      POSTGRES_DB: t.db.database,
    },
    timeout: 60000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('verifiable ledger', () => {
  let t: TestApp;
  let admin: TestUser;
  let verifierKey: string;
  let origin: string;

  beforeAll(async () => {
    t = await startTestApp({ LEDGER_APPEND_INTERVAL_MS: '20', LEDGER_ORIGIN: 'test.example/ledger' });
    const key = await get(t, '/ledger/key').expect(200);
    ({ verifierKey, origin } = key.body as { verifierKey: string; origin: string });
  });
  afterAll(() => t.close());

  it('signs the empty tree before the first event, with the key it publishes', async () => {
    const key = await get(t, '/ledger/key').expect(200);
    expect(key.body).toEqual({ origin: 'test.example/ledger', keyName: 'test.example/ledger', verifierKey });
    const res = await get(t, '/ledger/checkpoint').expect(200);
    const head = res.body as Checkpoint;
    expect(head).toMatchObject({ origin, treeSize: 0, rootHash: EMPTY_ROOT });
    expect(res.headers['cache-control']).toBe('no-cache');
    await expect(verifyCheckpoint(head.note, verifierKey, origin)).resolves.toEqual({
      origin,
      treeSize: 0,
      rootHash: EMPTY_ROOT,
    });
  });

  it('proves every event a user reads is in the tree, to that user only, for any size up to the newest', async () => {
    admin = await createUser(t, { role: 'ADMIN' });
    const a = await fundedUser(t, admin, '100');
    const b = await fundedUser(t, admin, '100');
    const stranger = await createUser(t);
    for (const amount of ['1', '2', '3']) await transfer(t, a.user, b.wallet, amount);
    const head = await settled(t);
    expect(head.treeSize).toBeGreaterThanOrEqual(5);
    const checked = await verifyCheckpoint(head.note, verifierKey, origin);
    expect(checked).toEqual({ origin, treeSize: head.treeSize, rootHash: head.rootHash });

    const events = (await get(t, '/events?limit=500', a.user).expect(200)).body.items as Event[];
    expect(events.length).toBe(4); // a's deposit and three transfers
    for (const event of events) {
      const res = await get(t, `/ledger/proofs/inclusion?sequence=${event.sequence}`, a.user).expect(200);
      expect(res.body).toMatchObject({
        sequence: event.sequence,
        leafIndex: event.sequence - 1,
        treeSize: head.treeSize,
      });
      await verifyInclusion(event, res.body, head.rootHash);
      // Another event's proof, or the right proof against another root, is refused.
      await expect(verifyInclusion({ ...event, id: 'forged' }, res.body, head.rootHash)).rejects.toThrow(
        LedgerVerificationError,
      );

      // In the smallest tree holding it: a root the test computes from the proof of consistency below.
      const small = await get(
        t,
        `/ledger/proofs/inclusion?sequence=${event.sequence}&treeSize=${event.sequence}`,
        a.user,
      ).expect(200);
      expect(small.headers['cache-control']).toBe('private, max-age=31536000, immutable');
      expect(small.body.treeSize).toBe(event.sequence);
      // Asked again, the proof comes from the service's cache: still only to those who may read the event.
      await get(
        t,
        `/ledger/proofs/inclusion?sequence=${event.sequence}&treeSize=${event.sequence}`,
        stranger,
      ).expect(404);

      await get(t, `/ledger/proofs/inclusion?sequence=${event.sequence}`, stranger).expect(404);
      await get(t, `/ledger/proofs/inclusion?sequence=${event.sequence}`, admin).expect(200);
    }
    const last = events[events.length - 1].sequence;
    const refusals = [
      `sequence=0`,
      `sequence=${head.treeSize + 1000}`,
      `sequence=${last}&treeSize=${last - 1}`,
      `sequence=${last}&treeSize=${head.treeSize + 1}`,
    ];
    for (const q of refusals) {
      const res = await get(t, `/ledger/proofs/inclusion?${q}`, a.user).expect(422);
      expect(res.body.code).toBe('NOT_IN_TREE');
    }
    await get(t, '/ledger/proofs/inclusion?sequence=abc', a.user).expect(400);
    await get(t, '/ledger/proofs/inclusion?sequence=1').expect(401);
  });

  it('keeps every checkpoint, each consistent with every later one', async () => {
    const all: Checkpoint[] = [];
    let after: string | null = null;
    do {
      const res = await get(t, `/ledger/checkpoints?limit=2${after ? `&after=${after}` : ''}`).expect(200);
      const page = res.body as { items: Checkpoint[]; nextCursor: string | null };
      expect(res.headers['cache-control']).toBe(
        page.nextCursor ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
      all.push(...page.items);
      after = page.nextCursor;
    } while (after !== null);
    expect(all[0].treeSize).toBe(0);
    expect(all.length).toBeGreaterThanOrEqual(2);
    const sizes = all.map((c) => c.treeSize);
    expect(sizes).toEqual([...sizes].sort((x, y) => x - y));
    const user = await createUser(t);
    const signed = all.filter((c) => c.treeSize > 0);
    for (const c of all) await verifyCheckpoint(c.note, verifierKey, origin);
    for (const [i, older] of signed.entries()) {
      for (const newer of signed.slice(i)) {
        const res = await get(
          t,
          `/ledger/proofs/consistency?from=${older.treeSize}&to=${newer.treeSize}`,
          user,
        ).expect(200);
        expect(res.headers['cache-control']).toBe('private, max-age=31536000, immutable');
        await verifyConsistency(res.body, older.rootHash, newer.rootHash);
        if (older.treeSize < newer.treeSize) {
          await expect(verifyConsistency(res.body, newer.rootHash, newer.rootHash)).rejects.toThrow();
        } else {
          expect(res.body.proof).toEqual([]);
        }
      }
    }
    const newest = sizes[sizes.length - 1];
    for (const q of [`from=0&to=${newest}`, `from=2&to=1`, `from=1&to=${newest + 1}`]) {
      const res = await get(t, `/ledger/proofs/consistency?${q}`, user).expect(422);
      expect(res.body.code).toBe('NOT_IN_TREE');
    }
    await get(t, `/ledger/proofs/consistency?from=1&to=2`).expect(401);
  });

  it("runs docs/LEDGER.md's two snippets, verbatim, and they refuse a key that is not the log's", async () => {
    const blocks = [
      ...readFileSync(join(ROOT, 'docs', 'LEDGER.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g),
    ].map((m) => m[1].replace(/^import .*$/m, ''));
    expect(blocks).toHaveLength(2);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.getHttpServer().address() as AddressInfo;
    const { user: holder } = await fundedUser(t, admin, '10');
    await transfer(t, holder, (await fundedUser(t, admin, '0')).wallet, '1');
    const said: string[] = [];
    const run = (code: string, trustedKey: string, savedNote?: string) =>
      new AsyncFunction(
        'base',
        'token',
        'trustedKey',
        'savedNote',
        'console',
        'verifyCheckpoint',
        'verifyInclusion',
        'verifyConsistency',
        code,
      )(
        `http://127.0.0.1:${port}`,
        holder.token,
        trustedKey,
        savedNote,
        { log: (line: string) => said.push(line) },
        verifyCheckpoint,
        verifyInclusion,
        verifyConsistency,
      ) as Promise<void>;

    const head = await settled(t);
    await run(blocks[0], verifierKey);
    expect(said.pop()).toBe(`2 of your events are in the ledger of ${head.treeSize} events`);
    const history = (await get(t, '/ledger/checkpoints?limit=100').expect(200)).body.items as Checkpoint[];
    const kept = history.find((c) => c.treeSize > 0 && c.treeSize < head.treeSize) ?? history[1];
    await run(blocks[1], verifierKey, kept.note);
    expect(said.pop()).toBe(
      `the ledger grew from ${kept.treeSize} to ${head.treeSize} events, history intact`,
    );

    const otherKey = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
    await expect(run(blocks[0], otherKey)).rejects.toThrow(LedgerVerificationError);
    await expect(run(blocks[1], otherKey, kept.note)).rejects.toThrow(LedgerVerificationError);
  });

  it('has one key per database, which a second instance and a restart keep', async () => {
    const second = await startTestApp({ LEDGER_ORIGIN: 'test.example/ledger' }, t.db);
    try {
      const key = await request(second.server).get(`${API}/ledger/key`).expect(200);
      expect(key.body.verifierKey).toBe(verifierKey);
    } finally {
      await second.close();
    }
    const { rows } = await t.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger_signing_key`);
    expect(rows[0].n).toBe(1);
  });

  it('orders checkpoints by size, not by the digits of their size (9 before 10)', async () => {
    const a = await fundedUser(t, admin, '100');
    const b = await fundedUser(t, admin, '0');
    let head = await settled(t);
    while (head.treeSize < 12) {
      await transfer(t, a.user, b.wallet, '1');
      head = await settled(t);
    }
    const { rows } = await t.sql.query<{ size: number }>(
      `SELECT tree_size::int AS size FROM ledger_checkpoints ORDER BY tree_size`,
    );
    const stored = rows.map((r) => r.size);
    expect(stored.some((n) => n > 0 && n < 10)).toBe(true);
    expect(head.treeSize).toBe(stored[stored.length - 1]);
    const listed: number[] = [];
    let after: string | null = null;
    do {
      const res = await get(t, `/ledger/checkpoints?limit=3${after ? `&after=${after}` : ''}`).expect(200);
      const page = res.body as { items: Checkpoint[]; nextCursor: string | null };
      listed.push(...page.items.map((c) => c.treeSize));
      after = page.nextCursor;
    } while (after !== null);
    expect(listed).toEqual(stored);
  });

  it('ledger:verify without POSTGRES_HOST checks the embedded server of a running npm start, or says to start it', async () => {
    await settled(t);
    const run = (embeddedDir: string) => {
      const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'ledger-verify.mjs')], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { PATH: process.env.PATH, EMBEDDED_PG_DIR: embeddedDir, POSTGRES_DB: t.db.database },
        timeout: 60000,
      });
      return { status: r.status, out: `${r.stdout}${r.stderr}` };
    };
    const dir = mkdtempSync(join(tmpdir(), 'hfts-embedded-'));
    try {
      // No server there: one line saying what to do, exit 2 (not a stack trace).
      const none = run(dir);
      expect(none.out).toContain('no embedded PostgreSQL is running');
      expect(none.out).not.toContain('    at ');
      expect(none.status).toBe(2);
      // A running one is found by its postmaster.pid (port on the 4th line), with the embedded server's
      // fixed user and password: the test's own server stands in for it (the embedded one of `npm test`
      // has those; the machine's trusts 127.0.0.1).
      if (t.db.host === '127.0.0.1' && t.db.user === 'postgres') {
        writeFileSync(join(dir, 'postmaster.pid'), `1\n${dir}\n1\n${t.db.port}\n\n127.0.0.1\n`);
        const found = run(dir);
        expect(found.out).toMatch(/ledger verified: \d+ leaves/);
        expect(found.status).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ledger:verify passes on the untouched log and names an event changed behind the service', async () => {
    await settled(t);
    const clean = ledgerVerify(t);
    expect(clean.out).toMatch(/ledger verified: \d+ leaves/);
    expect(clean.status).toBe(0);

    const victim = 3;
    await t.sql.query(`SET session_replication_role = replica`);
    try {
      await t.sql.query(
        `UPDATE events SET data = jsonb_set(data, '{transaction,amount}', '"1000000.0000"')
          WHERE id = (SELECT id FROM numbered_events WHERE sequence = $1)`,
        [victim],
      );
    } finally {
      await t.sql.query(`SET session_replication_role = origin`);
    }
    const tampered = ledgerVerify(t);
    expect(tampered.status).toBe(1);
    expect(tampered.out).toContain(`FAILED at sequence ${victim}:`);
  });

  it('signs nothing more once the stored tree disagrees with a signed checkpoint', async () => {
    const head = await settled(t);
    const appender = t.app.get(LedgerAppender);
    await t.sql.query(`SET session_replication_role = replica`);
    try {
      // Every stored hash rewritten: the tree's nodes no longer give the newest checkpoint's root.
      await t.sql.query(`UPDATE ledger_nodes SET hash = sha256(hash)`);
    } finally {
      await t.sql.query(`SET session_replication_role = origin`);
    }
    const a = await fundedUser(t, admin, '5');
    await transfer(t, a.user, (await fundedUser(t, admin, '0')).wallet, '1');
    for (let i = 0; i < 200 && (await numbered(t)) <= head.treeSize; i++)
      await new Promise((r) => setTimeout(r, 25));
    expect(await numbered(t)).toBeGreaterThan(head.treeSize);
    // The service's own appender fails the same way; a pass of ours that met its lock (-1) is tried again.
    let outcome: unknown = -1;
    for (let i = 0; i < 100 && outcome === -1; i++)
      outcome = await appender.run().catch((err: unknown) => err);
    expect(outcome).toBeInstanceOf(LedgerDivergenceError);
    const { rows } = await t.sql.query<{ size: number }>(
      `SELECT max(tree_size)::int AS size FROM ledger_checkpoints`,
    );
    expect(rows[0].size).toBe(head.treeSize);
  });
});
