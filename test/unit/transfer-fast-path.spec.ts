import 'reflect-metadata';
import type { ExecutionContext } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import fc from 'fast-check';
import { AppError } from '../../src/common/errors/error-codes';
import { createValidationPipe } from '../../src/common/http/validation';
import { CURRENCIES } from '../../src/common/money/validators';
import { CreateTransferDto } from '../../src/transfers/dto/movement.dto';
import { isCertainlyValid, TransferBody, transferBody } from '../../src/transfers/dto/transfer-fast-path';
import { HOLD_SECONDS } from '../../src/transfers/transaction.record';

/** The reference: what the global ValidationPipe made of a POST /transfers body before the fast path. */
const pipe = createValidationPipe();
const slowPath = (body: unknown): Promise<unknown> =>
  pipe.transform(body, { type: 'body', metatype: CreateTransferDto });

type Outcome =
  | { value: unknown; keys: string[]; metadataKeys?: string[] }
  | { error: string; code?: string; detail?: string; extras?: unknown; message?: string };

/** Everything a caller can observe of an answer: the DTO (class, own keys in order, values), or the error. */
async function outcome(answer: () => Promise<unknown>): Promise<Outcome> {
  try {
    const value = (await answer()) as CreateTransferDto;
    return {
      value,
      keys: Object.keys(value),
      metadataKeys: value.metadata === undefined ? undefined : Object.keys(value.metadata),
    };
  } catch (err) {
    if (err instanceof AppError) {
      return { error: 'AppError', code: err.code, detail: err.detail, extras: err.extras };
    }
    return { error: (err as Error).constructor.name, message: (err as Error).message };
  }
}

/** A body as Fastify hands it over: parsed JSON (own `__proto__` keys included, no undefined, no -0). */
const received = (body: unknown): unknown => {
  const json = JSON.stringify(body);
  return json === undefined ? undefined : JSON.parse(json);
};

const PROTO_NAMES = Object.getOwnPropertyNames(Object.prototype);
const hostileScalar = fc.oneof(
  fc.constantFrom(null, true, false, 0, 1, -1, 1.5, '', ' ', '\u0000', [], {}, ['x'], { a: 1 }),
  fc.string({ maxLength: 8 }),
  fc.double(),
);

// Each field: values the DTO accepts (edges included), and values it refuses or that sit at its edges.
const amount = {
  valid: fc.oneof(
    fc.stringMatching(/^(0|[1-9][0-9]{0,13})(\.[0-9]{1,4})?$/),
    fc.constantFrom('99999999999999.9999', '0.0001', '10.5000', '1'),
  ),
  hostile: fc.oneof(
    fc.constantFrom(
      '0',
      '0.0',
      '0.0000',
      '00',
      '01',
      '1.',
      '.5',
      '1.00000',
      '1e3',
      ' 1',
      '1 ',
      '-1',
      '+1',
      '\u0661',
      '100000000000000',
      '1\n',
    ),
    fc.stringMatching(/^-?[0-9]{0,16}(\.[0-9]{0,6})?$/),
    hostileScalar,
  ),
};

const currency = {
  valid: fc.constantFrom(...CURRENCIES),
  hostile: fc.oneof(
    fc.constantFrom('usd', 'Usd', 'XXX', 'XTS', 'XAU', 'XDR', 'XSU', 'XUA', 'EUR ', 'US', 'USDD'),
    fc.stringMatching(/^[A-Z]{3}$/),
    hostileScalar,
  ),
};

const uuid = fc.uuid();
const toWalletId = {
  valid: fc.oneof(
    uuid,
    uuid.map((u) => u.toUpperCase()),
    uuid.map((u) => u.replace(/[a-f]/, (c) => c.toUpperCase())),
    fc.constantFrom(
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
    ),
  ),
  hostile: fc.oneof(
    fc.constantFrom(
      '3f2e1d0c-9b8a-0776-8554-433221100fed', // version 0
      '3f2e1d0c-9b8a-9776-8554-433221100fed', // version 9
      '3f2e1d0c-9b8a-4776-c554-433221100fed', // variant c
      '3f2e1d0c-9b8a-4776-8554-433221100fed\n',
      '3f2e1d0c9b8a47768554433221100fed',
      '{3f2e1d0c-9b8a-4776-8554-433221100fed}',
    ),
    fc.stringMatching(/^[0-9a-fA-F-]{30,40}$/),
    hostileScalar,
  ),
};

/** Text around its limits: length in UTF-16 units and in code points, NUL, lone and paired surrogates. */
const text = (max: number) => ({
  valid: fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.string({ unit: 'grapheme', maxLength: 10 }),
    fc.constantFrom('', 'a'.repeat(max), '\u{1F600}'.repeat(max / 2), '\ud83d\ude00', 'Dinner, split'),
  ),
  hostile: fc.oneof(
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.constantFrom(
      'a'.repeat(max + 1),
      '\u{1F600}'.repeat(max / 2 + 1),
      '\u{1F600}'.repeat(max),
      `${'a'.repeat(max)}\ufe0f`,
      '\u0000',
      'a\u0000b',
      '\ud800',
      'a\udc00',
      '\udc00\ud800',
    ),
    fc
      .constantFrom(...'\u0000\ud800\udc00\ud83d\ude00a\ufe0f'.split(''))
      .chain((c) => fc.integer({ min: max - 2, max: max + 2 }).map((n) => 'b'.repeat(n - 1) + c)),
    hostileScalar,
  ),
});
const anyOf = (f: { valid: fc.Arbitrary<unknown>; hostile: fc.Arbitrary<unknown> }) =>
  fc.oneof({ weight: 3, arbitrary: f.valid }, { weight: 1, arbitrary: f.hostile });

const metadataKey = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      ...PROTO_NAMES,
      'a'.repeat(40),
      'a'.repeat(41),
      '',
      'has space',
      'é',
      'prototype',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 5 }) },
);
const metadataValue = text(500);
const metadata = {
  valid: fc.oneof(
    fc.dictionary(
      fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/),
      metadataValue.valid.filter((v) => v.length > 0 && v.length <= 500),
      {
        maxKeys: 20,
        noNullPrototype: true,
      },
    ),
    fc.constant(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v']))),
  ),
  hostile: fc.oneof(
    fc.dictionary(metadataKey, anyOf(metadataValue), { maxKeys: 22, noNullPrototype: true }),
    fc.constant(Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']))),
    hostileScalar,
  ),
};

const holdExpiresInSeconds = {
  valid: fc.oneof(
    fc.integer({ min: -100, max: HOLD_SECONDS.max }),
    fc.constantFrom(0, -0, 59, 60, HOLD_SECONDS.max, -1e21),
  ),
  hostile: fc.oneof(
    fc.constantFrom(HOLD_SECONDS.max + 1, 1e21, 60.5, Number.MAX_SAFE_INTEGER + 2),
    fc.integer().map(String),
    hostileScalar,
  ),
};

const hold = { valid: fc.boolean(), hostile: hostileScalar };
type Field =
  'toWalletId' | 'amount' | 'currency' | 'description' | 'hold' | 'holdExpiresInSeconds' | 'metadata';
const fields: Record<Field, { valid: fc.Arbitrary<unknown>; hostile: fc.Arbitrary<unknown> }> = {
  toWalletId,
  amount,
  currency,
  description: text(500),
  hold,
  holdExpiresInSeconds,
  metadata,
};
const REQUIRED: Field[] = ['toWalletId', 'amount', 'currency'];
const OPTIONAL: Field[] = ['description', 'hold', 'holdExpiresInSeconds', 'metadata'];
const pick = <K extends Field>(keys: K[], kind: 'valid' | 'hostile' | 'any') =>
  Object.fromEntries(keys.map((k) => [k, kind === 'any' ? anyOf(fields[k]) : fields[k][kind]])) as {
    [P in K]: fc.Arbitrary<unknown>;
  };

/** Every required field valid, optional ones valid or absent. */
const validBody = fc
  .tuple(
    fc.record(pick(REQUIRED, 'valid'), { noNullPrototype: true }),
    fc.record(pick(OPTIONAL, 'valid'), { requiredKeys: [], noNullPrototype: true }),
  )
  .map(([required, optional]) => ({ ...optional, ...required }));

/** A valid body with one field refused or missing, or one stray key. */
const oneWrong = fc.oneof(
  fc
    .tuple(validBody, fc.constantFrom(...REQUIRED, ...OPTIONAL))
    .chain(([b, k]) => fields[k].hostile.map((v) => ({ ...b, [k]: v }))),
  fc.tuple(validBody, fc.constantFrom(...REQUIRED)).map(([b, k]) => {
    const rest: Record<string, unknown> = { ...b };
    delete rest[k];
    return rest;
  }),
  fc
    .tuple(
      validBody,
      fc.constantFrom('balance', 'fromWalletId', 'constructor', 'toString', '__proto__', 'reference'),
      hostileScalar,
    )
    // defineProperty: an own `__proto__` key, as JSON.parse makes one.
    .map(([b, key, value]) =>
      Object.defineProperty({ ...b }, key, { value, enumerable: true, writable: true, configurable: true }),
    ),
);

/** Valid bodies, bodies one mistake away, any mix of fields, and any JSON at all. */
const body = fc
  .oneof(
    { weight: 4, arbitrary: validBody },
    { weight: 4, arbitrary: oneWrong },
    {
      weight: 2,
      arbitrary: fc.record(pick([...REQUIRED, ...OPTIONAL], 'any'), {
        requiredKeys: [],
        noNullPrototype: true,
      }),
    },
    { weight: 1, arbitrary: fc.jsonValue() },
    { weight: 1, arbitrary: fc.constantFrom(undefined, null, [], '', 'x', 0, {}) },
  )
  .map(received);

const seed = process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {};
const runs = { numRuns: 3000, ...seed };

/** The factory behind a parameter decorator, as Nest calls it. */
function factoryOf(decorator: () => ParameterDecorator) {
  class Probe {
    handler(@decorator() _value: unknown): void {}
  }
  const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, Probe, 'handler') as Record<
    string,
    { factory: (data: unknown, ctx: ExecutionContext) => unknown }
  >;
  return Object.values(args)[0].factory;
}

const contextWith = (requestBody: unknown) =>
  ({ switchToHttp: () => ({ getRequest: () => ({ body: requestBody }) }) }) as unknown as ExecutionContext;

describe('the POST /transfers fast path', () => {
  it('accepts only bodies the ValidationPipe accepts, and yields the very DTO the pipe makes of them', async () => {
    let fast = 0;
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        if (!isCertainlyValid(b)) return;
        fast++;
        const expected = await outcome(() => slowPath(received(b)));
        expect('value' in expected).toBe(true);
        expect(await outcome(() => transferBody(received(b)))).toStrictEqual(expected);
      }),
      runs,
    );
    // Not a vacuous proof: a good share of the generated bodies took the fast path.
    expect(fast).toBeGreaterThan(runs.numRuns / 20);
  });

  it('answers every body exactly as the ValidationPipe does: the same DTO, or the same error code, detail and errors', async () => {
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const expected = await outcome(() => slowPath(received(b)));
        expect(await outcome(() => transferBody(received(b)))).toStrictEqual(expected);
      }),
      runs,
    );
  });

  it('takes the fast path for an ordinary transfer and the slow one for an upper-case wallet id, which it lower-cases', async () => {
    const ordinary = {
      toWalletId: '3f2e1d0c-9b8a-4776-8554-433221100fed',
      amount: '10.50',
      currency: 'USD',
      description: 'Dinner, split',
      metadata: { orderId: 'A-1042' },
    };
    expect(isCertainlyValid(ordinary)).toBe(true);
    const upper = { ...ordinary, toWalletId: ordinary.toWalletId.toUpperCase() };
    expect(isCertainlyValid(upper)).toBe(false);
    expect(await outcome(() => transferBody(upper))).toStrictEqual(
      await outcome(() => transferBody(ordinary)),
    );
  });

  it.each(['__proto__', 'constructor', 'prototype', 'toString'])(
    'sends metadata key %s, which the slow path drops, down the slow path',
    async (key) => {
      const b = JSON.parse(
        `{"toWalletId":"3f2e1d0c-9b8a-4776-8554-433221100fed","amount":"1","currency":"USD","metadata":{"${key}":"x","a":"b"}}`,
      ) as unknown;
      expect(isCertainlyValid(b)).toBe(false);
      const expected = await outcome(() => slowPath(received(b)));
      expect(expected).toMatchObject({ metadataKeys: ['a'] });
      expect(await outcome(() => transferBody(b))).toStrictEqual(expected);
    },
  );

  it('the @TransferBody() decorator answers for the request body', async () => {
    const factory = factoryOf(TransferBody);
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const expected = await outcome(() => slowPath(received(b)));
        const actual = await outcome(async () => factory(undefined, contextWith(received(b))));
        expect(actual).toStrictEqual(expected);
      }),
      { ...runs, numRuns: 300 },
    );
  });
});
