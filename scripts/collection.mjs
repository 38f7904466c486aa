#!/usr/bin/env node
// npm run collection:generate   writes docs/collection/hfts.postman_collection.json from the OpenAPI document
// npm run collection:check      fails when the committed collection is not what the document gives now
//
// The document is the one /docs-json serves, built without a server or database by scripts/openapi.mjs.
// openapi-to-postmanv2 (Postman's own converter) turns it into a Postman v2.1 collection, one folder per tag,
// request bodies and parameters from the document's examples. Then, so that it works as it is imported:
// - {{baseUrl}} defaults to http://localhost:3000, and every secured request uses {{bearerToken}}, which the
//   login request sets from its response (or paste one that `npm run seed` printed);
// - every Idempotency-Key is {{$guid}}, a new key per send (to retry with the same key, fix its value);
// - optional parameters are listed but off; only success examples are kept (the errors each operation
//   can send are in the document itself);
// - random ids and faked values are made deterministic, so that the file changes only when the API does.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const OUT = join(root, 'docs', 'collection', 'hfts.postman_collection.json');
const args = process.argv.slice(2);
const check = args.includes('--check');
// --doc FILE: convert that document instead of building one (to see what a document would give).
const docFile = args.includes('--doc') ? resolve(args[args.indexOf('--doc') + 1] ?? '') : undefined;

function buildDocument() {
  const dir = mkdtempSync(join(tmpdir(), 'hfts-collection-'));
  try {
    const file = join(dir, 'openapi.json');
    const run = spawnSync(process.execPath, [join(root, 'scripts', 'openapi.mjs'), '--out', file], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (run.status !== 0) process.exit(run.status ?? 1);
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const FIXED_NOW = Date.UTC(2025, 0, 1);

/** A fixed sequence for Math.random (mulberry32), for the values the converter fakes from schemas. */
function seededRandom(seed) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function convert(data) {
  const random = Math.random;
  const RealDate = Date;
  // json-schema-faker, inside the converter, keeps the Math.random it finds when it is loaded, and fakes
  // date-times around now: a fixed sequence and a fixed now while it runs.
  Math.random = seededRandom(17);
  globalThis.Date = class extends RealDate {
    constructor(...args) {
      super(...(args.length ? args : [FIXED_NOW]));
    }
    static now() {
      return FIXED_NOW;
    }
  };
  const { convertV2 } = require('openapi-to-postmanv2');
  try {
    return await new Promise((done, fail) => {
      convertV2(
        { type: 'string', data },
        {
          folderStrategy: 'Tags',
          parametersResolution: 'Example',
          requestNameSource: 'Fallback',
          // Optional parameters are there, unticked: sent as generated, a statement asked for a cursor "string".
          enableOptionalParameters: false,
        },
        (err, res) => {
          if (err) return fail(err);
          if (!res.result) return fail(new Error(`openapi-to-postmanv2: ${res.reason}`));
          done(res.output[0].data);
        },
      );
    });
  } finally {
    Math.random = random;
    globalThis.Date = RealDate;
  }
}

/** An id from what the thing is, not from chance: a UUID-shaped hash of its place in the collection. */
const idOf = (path) => {
  const h = createHash('sha256').update(path).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};

const LOGIN_SCRIPT = [
  '// Keeps the token for every other request of this collection.',
  'if (pm.response.code === 200) pm.collectionVariables.set("bearerToken", pm.response.json().accessToken);',
];

function finish(collection) {
  const walk = (node, path) => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}/${n?.name ?? i}`));
    if (!node || typeof node !== 'object') return;
    if ('id' in node) node.id = idOf(path);
    if (node.request && Array.isArray(node.response)) {
      node.response = node.response.filter((r) => r.code >= 200 && r.code < 300);
      const headers = [
        node.request.header ?? [],
        ...node.response.map((r) => r.originalRequest?.header ?? []),
      ];
      for (const h of headers.flat()) if (h.key === 'Idempotency-Key') h.value = '{{$guid}}';
      const url = node.request.url;
      if (node.request.method === 'POST' && url?.path?.join('/') === 'api/v1/auth/login') {
        node.event = [{ listen: 'test', script: { type: 'text/javascript', exec: LOGIN_SCRIPT } }];
      }
    }
    for (const [key, value] of Object.entries(node)) if (key !== 'id') walk(value, `${path}/${key}`);
  };
  walk(collection.item, '');
  collection.info._postman_id = idOf('hfts');
  collection.variable = [
    { key: 'baseUrl', value: 'http://localhost:3000', type: 'string' },
    { key: 'bearerToken', value: '', type: 'string' },
  ];
  return collection;
}

async function main() {
  const collection = finish(await convert(docFile ? readFileSync(docFile, 'utf8') : buildDocument()));
  const prettier = require('prettier');
  const options = (await prettier.resolveConfig(OUT)) ?? {};
  const text = await prettier.format(JSON.stringify(collection), { ...options, parser: 'json' });
  const name = relative(root, OUT);
  if (check) {
    let committed = '';
    try {
      committed = readFileSync(OUT, 'utf8');
    } catch {
      // missing: stale too
    }
    if (committed !== text) {
      console.error(`${name} is not what the OpenAPI document gives now: run npm run collection:generate`);
      process.exit(1);
    }
    console.log(`${name} is up to date`);
    return;
  }
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, text);
  const requests = collection.item.reduce((n, folder) => n + (folder.item?.length ?? 0), 0);
  console.log(`wrote ${name}: ${requests} requests in ${collection.item.length} folders`);
}

await main();
