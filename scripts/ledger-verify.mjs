#!/usr/bin/env node
// npm run ledger:verify: checks the verifiable ledger (docs/LEDGER.md) against the events it was built from.
//
// With the service's database settings (POSTGRES_* from the environment and .env; without POSTGRES_HOST, the
// embedded server of a running `npm start`), in one pass in sequence
// order: every leaf is recomputed from the stored event (RFC 8785 of the event JSON that GET /events answers,
// RFC 9162 leaf hash) and compared with the stored leaf hash; every complete subtree hash stored above it is
// recomputed; every checkpoint's root is compared with the root of the recomputed tree of its size, its note
// with its columns, and its Ed25519 signature checked with the verifier key it names. The first mismatch is
// printed (the event's `sequence`, or the checkpoint's tree size) and the exit status is 1.
//
// npm run ledger:keygen -- <name> prints a new signer key for LEDGER_SIGNING_KEY and its verifier key.
//
// This file is on purpose a second implementation, sharing no code with src/ledger: a bug there is not
// repeated here.
import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PAGE = 10000;

const sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const leafHash = (bytes) => sha256(Buffer.from([0]), bytes);
const nodeHash = (l, r) => sha256(Buffer.from([1]), l, r);

/** RFC 8785 for values from JSON. */
function canonical(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  return `{${Object.keys(v)
    .filter((k) => v[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
    .join(',')}}`;
}

/** The event as GET /api/v1/events answers it (src/events/event.record.ts, eventJson). */
const eventJson = (e) => ({
  id: e.id,
  type: e.type,
  sequence: Number(e.sequence),
  createdAt: new Date(e.created_at).toISOString(),
  walletIds: e.wallet_ids,
  data: e.data,
});

/** Whether the note's text is signed by `verifierKey` (`<name>+<id>+<base64(0x01 || key)>`). */
function signedBy(note, verifierKey) {
  const [name, id, ...rest] = verifierKey.split('+');
  const raw = Buffer.from(rest.join('+'), 'base64');
  const split = note.lastIndexOf('\n\n');
  if (raw.length !== 33 || raw[0] !== 1 || split < 0) return false;
  const expectId = sha256(Buffer.from(`${name}\n`), raw)
    .subarray(0, 4)
    .toString('hex');
  if (expectId !== id) return false;
  const key = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw.subarray(1)]),
    format: 'der',
    type: 'spki',
  });
  const text = Buffer.from(note.slice(0, split + 1));
  return note
    .slice(split + 2)
    .split('\n')
    .filter((line) => line.startsWith(`— ${name} `))
    .some((line) => {
      const sig = Buffer.from(line.slice(`— ${name} `.length), 'base64');
      return (
        sig.length === 68 &&
        sig.subarray(0, 4).toString('hex') === id &&
        verify(null, text, key, sig.subarray(4))
      );
    });
}

class Bad extends Error {}

/** POSTGRES_HOST set: its first host (a host list's), as the service connects. */
function serverOf(env) {
  const [host, port] = env.POSTGRES_HOST.split(',')[0].split(':');
  return {
    host,
    port: Number(port ?? env.POSTGRES_PORT ?? 5432),
    user: env.POSTGRES_USER ?? 'postgres',
    password: env.POSTGRES_PASSWORD ?? '',
  };
}

/**
 * POSTGRES_HOST unset: the embedded server that `npm start` runs under EMBEDDED_PG_DIR, while it runs (its
 * port is the fourth line of postmaster.pid; user and password are the service's fixed ones, see
 * src/bootstrap/embedded-database.ts).
 */
function embeddedServerOf(env) {
  const pidFile = join(resolve(root, env.EMBEDDED_PG_DIR ?? './.data/postgres'), 'postmaster.pid');
  const port = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[3]) : 0;
  if (!port) {
    throw new Usage(
      `no embedded PostgreSQL is running (${pidFile}): start the service (npm start) and run this again, ` +
        'or set POSTGRES_HOST (and POSTGRES_PORT, _USER, _PASSWORD, _DB) to the database',
    );
  }
  return { host: '127.0.0.1', port, user: 'postgres', password: 'postgres' };
}

/** A mistake in how the command was run: said in one line, exit status 2. */
class Usage extends Error {}

async function main() {
  if (existsSync(join(root, '.env'))) process.loadEnvFile(join(root, '.env'));
  const env = process.env;
  const db = new pg.Client({
    ...(env.POSTGRES_HOST ? serverOf(env) : embeddedServerOf(env)),
    database: env.POSTGRES_DB ?? 'hfts_db',
    application_name: 'hfts-ledger-verify',
  });
  await db.connect();
  try {
    // One snapshot for the whole check: the appender may go on meanwhile.
    await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return await check(db);
  } finally {
    await db.end();
  }
}

async function check(db) {
  const q = async (sql, params = []) => (await db.query(sql, params)).rows;
  const [{ leaves }] = await q(
    `SELECT coalesce(max(idx) + 1, 0)::int AS leaves FROM ledger_nodes WHERE level = 0`,
  );
  const checkpoints = await q(
    `SELECT tree_size::int AS size, root_hash, origin, verifier_key, note FROM ledger_checkpoints ORDER BY tree_size`,
  );
  const keys = new Set();
  let next = 0; // index into checkpoints
  const frontier = []; // [{level, hash}] of the tree recomputed so far
  const rootOf = () =>
    frontier.reduceRight((acc, n) => (acc ? nodeHash(n.hash, acc) : n.hash), null) ?? sha256();

  const checkCheckpointsAt = (size) => {
    for (; next < checkpoints.length && checkpoints[next].size === size; next++) {
      const c = checkpoints[next];
      const text = `${c.origin}\n${c.size}\n${c.root_hash.toString('base64')}\n`;
      if (!c.root_hash.equals(rootOf()))
        throw new Bad(`checkpoint of tree size ${size}: its root is not the root of the events 1..${size}`);
      if (!c.note.startsWith(`${text}\n`))
        throw new Bad(`checkpoint of tree size ${size}: its note does not say what its columns say`);
      if (!signedBy(c.note, c.verifier_key))
        throw new Bad(
          `checkpoint of tree size ${size}: its signature does not verify with ${c.verifier_key}`,
        );
      keys.add(c.verifier_key);
    }
  };

  checkCheckpointsAt(0);
  for (let from = 0; from < leaves; from += PAGE) {
    const to = Math.min(leaves, from + PAGE);
    const events = await q(
      `SELECT e.sequence::text, e.id, e.type, e.created_at, e.wallet_ids, e.data FROM numbered_events e
        WHERE e.sequence > $1 AND e.sequence <= $2 ORDER BY e.sequence`,
      [from, to],
    );
    // The stored nodes completed by leaves from..to-1: at level l, those ending in (from, to].
    const levels = [];
    for (let l = 0; 2 ** l <= to; l++) levels.push(l);
    const rows = await q(
      `SELECT n.level, n.idx::text, n.hash FROM unnest($1::int[], $2::bigint[], $3::bigint[]) r(level, lo, hi)
         JOIN ledger_nodes n ON n.level = r.level AND n.idx BETWEEN r.lo AND r.hi`,
      [levels, levels.map((l) => Math.floor(from / 2 ** l)), levels.map((l) => Math.floor(to / 2 ** l) - 1)],
    );
    const stored = new Map(rows.map((r) => [`${r.level}:${r.idx}`, r.hash]));
    for (let i = from; i < to; i++) {
      const e = events[i - from];
      if (!e || Number(e.sequence) !== i + 1)
        throw new Bad(`sequence ${i + 1}: a leaf is stored but there is no such event`);
      const leaf = leafHash(Buffer.from(canonical(eventJson(e)), 'utf8'));
      if (!leaf.equals(stored.get(`0:${i}`) ?? Buffer.alloc(0))) {
        throw new Bad(
          `sequence ${i + 1}: the stored event does not give its leaf hash (the event or its leaf was changed)`,
        );
      }
      let node = { level: 0, index: i, hash: leaf };
      while (frontier.length > 0 && frontier[frontier.length - 1].level === node.level) {
        const left = frontier.pop();
        node = { level: node.level + 1, index: left.index / 2, hash: nodeHash(left.hash, node.hash) };
        if (!node.hash.equals(stored.get(`${node.level}:${node.index}`) ?? Buffer.alloc(0))) {
          throw new Bad(
            `sequence ${i + 1}: the stored subtree hash (${node.level}, ${node.index}) above it is wrong`,
          );
        }
      }
      frontier.push(node);
      checkCheckpointsAt(i + 1);
    }
  }
  if (next < checkpoints.length) {
    throw new Bad(`checkpoint of tree size ${checkpoints[next].size}: the tree has only ${leaves} leaves`);
  }
  return { leaves, checkpoints: checkpoints.length, keys: [...keys] };
}

/** npm run ledger:keygen -- <name>: a new Ed25519 signer key for LEDGER_SIGNING_KEY, and its verifier key. */
function newKey(name) {
  if (!/^[^\s+]+$/u.test(name ?? ''))
    throw new Error('usage: npm run ledger:keygen -- <key name, e.g. example.com/hfts>');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
  const pub = Buffer.concat([
    Buffer.from([1]),
    publicKey.export({ format: 'der', type: 'spki' }).subarray(-32),
  ]);
  const id = sha256(Buffer.from(`${name}\n`), pub)
    .subarray(0, 4)
    .toString('hex');
  console.log(
    `LEDGER_SIGNING_KEY=PRIVATE+KEY+${name}+${id}+${Buffer.concat([Buffer.from([1]), seed]).toString('base64')}`,
  );
  console.log(`verifier key (publish it): ${name}+${id}+${pub.toString('base64')}`);
}

const keygen = process.argv.indexOf('--new-key');
if (keygen >= 0) {
  newKey(process.argv[keygen + 1]);
  process.exit(0);
}

try {
  const r = await main();
  console.log(
    `ledger verified: ${r.leaves} leaves, ${r.checkpoints} checkpoints, signed by ${r.keys.join(', ')}`,
  );
} catch (err) {
  if (err instanceof Usage) {
    console.error(`ledger:verify: ${err.message}`);
    process.exitCode = 2;
  } else {
    if (!(err instanceof Bad)) throw err;
    console.error(`ledger verification FAILED at ${err.message}`);
    process.exitCode = 1;
  }
}
