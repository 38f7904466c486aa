import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../scripts/lib/free-port.cjs';
import { startTestApp, type TestApp } from '../support/app';

/**
 * Issue 17 (QA): the committed Postman collection (npm run collection:generate) works as imported. newman,
 * Postman's own runner, sends its requests, unchanged, to the real service: the document's example bodies
 * pass validation, the login request keeps the token for the others, and each send of a money-moving
 * request gets a new Idempotency-Key.
 */

const ROOT = join(__dirname, '..', '..');
const COLLECTION = join(ROOT, 'docs', 'collection', 'hfts.postman_collection.json');
const NEWMAN = join(ROOT, 'node_modules', 'newman', 'bin', 'newman.js');

interface Item {
  name: string;
  item?: Item[];
  request?: { method: string; url: { path: string[] } };
}
interface Execution {
  item: { name: string };
  response?: { code: number; stream?: { type: string; data: number[] } };
  requestError?: unknown;
}

/** The collection's request for METHOD path (as in the document, `{id}` written `:id`). */
function requestFor(collection: { item: Item[] }, method: string, path: string): Item {
  const all = collection.item.flatMap((folder) => folder.item ?? [folder]);
  const found = all.find((i) => i.request?.method === method && i.request.url.path.join('/') === path);
  if (!found) throw new Error(`the collection has no ${method} ${path}`);
  return found;
}

/** Runs newman over `items`, in order, against `baseUrl`; resolves with what each request got. */
function runNewman(items: Item[], baseUrl: string, dir: string): Promise<Execution[]> {
  const collection = JSON.parse(readFileSync(COLLECTION, 'utf8')) as { item: Item[] };
  const file = join(dir, 'flow.postman_collection.json');
  const report = join(dir, 'report.json');
  writeFileSync(file, JSON.stringify({ ...collection, item: items }));
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        NEWMAN,
        'run',
        file,
        '--env-var',
        `baseUrl=${baseUrl}`,
        '-r',
        'json',
        '--reporter-json-export',
        report,
      ],
      { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(
          (JSON.parse(readFileSync(report, 'utf8')) as { run: { executions: Execution[] } }).run.executions,
        );
      } catch (err) {
        reject(new Error(`newman gave no report (${String(err)}): ${output}`));
      }
    });
  });
}

const bodyOf = (e: Execution): Record<string, unknown> =>
  JSON.parse(Buffer.from(e.response?.stream?.data ?? []).toString('utf8')) as Record<string, unknown>;

describe('the Postman collection, run by newman against the service', () => {
  let t: TestApp;
  let base: string;
  let dir: string;

  beforeAll(async () => {
    t = await startTestApp();
    const port = await freePort();
    await t.app.listen({ port, host: '127.0.0.1' });
    base = `http://127.0.0.1:${port}`;
    dir = mkdtempSync(join(tmpdir(), 'hfts-newman-'));
  });

  afterAll(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  it('registers, logs in (keeping the token), opens a wallet and reads it, each request as generated', async () => {
    const collection = JSON.parse(readFileSync(COLLECTION, 'utf8')) as { item: Item[] };
    const flow: Array<[string, string, number]> = [
      ['POST', 'api/v1/auth/register', 201],
      ['POST', 'api/v1/auth/login', 200],
      ['POST', 'api/v1/wallets', 201],
      ['GET', 'api/v1/wallets/me', 200],
      ['GET', 'api/v1/wallets/me/transactions', 200],
      // An empty wallet: refused, and each send carries a key of its own (two refusals recorded).
      ['POST', 'api/v1/wallets/me/withdrawals', 422],
      ['POST', 'api/v1/wallets/me/withdrawals', 422],
    ];
    const executions = await runNewman(
      flow.map(([method, path]) => requestFor(collection, method, path)),
      base,
      dir,
    );
    expect(executions.map((e, i) => [flow[i][1], e.response?.code])).toEqual(
      flow.map(([, path, status]) => [path, status]),
    );
    const registered = bodyOf(executions[0]);
    const wallet = bodyOf(executions[3]);
    expect(wallet).toMatchObject({ userId: registered.id, balance: '0.0000' });
    expect(bodyOf(executions[5])).toMatchObject({ code: 'INSUFFICIENT_FUNDS' });
    const keys = await t.sql.query(`SELECT key FROM idempotency_keys WHERE user_id = $1`, [registered.id]);
    expect(new Set(keys.rows.map((r: { key: string }) => r.key)).size).toBe(2);
  });
});
