import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, fundedUser, type TestUser } from '../support/factories';

const API = '/api/v1';

/**
 * Issue 21.6: the fingerprint of a request is taken after defaults are applied, so two requests that mean
 * the same under one Idempotency-Key are one request (a replay), not 422 IDEMPOTENCY_KEY_REUSED.
 */
describe('idempotency: equal requests have equal fingerprints', () => {
  let t: TestApp;
  let admin: TestUser;
  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(() => t.close());

  const post = (u: TestUser, path: string, key: string, body?: Record<string, unknown>) => {
    const r = request(t.server)
      .post(`${API}${path}`)
      .auth(u.token, { type: 'bearer' })
      .set('Idempotency-Key', key);
    return body === undefined ? r : r.send(body);
  };

  it('replays a refund sent with no body, then with {}, under one key', async () => {
    const sender = await fundedUser(t, admin, '100');
    const receiver = await fundedUser(t, admin, '0');
    const paid = await post(sender.user, '/transfers', randomUUID(), {
      toWalletId: receiver.wallet.id,
      amount: '10',
      currency: 'USD',
    }).expect(201);
    const key = randomUUID();
    const first = await post(receiver.user, `/transfers/${paid.body.id}/refunds`, key).expect(201);
    const again = await post(receiver.user, `/transfers/${paid.body.id}/refunds`, key, {});
    expect([again.status, again.body.code, again.headers['idempotent-replayed']]).toEqual([
      201,
      undefined,
      'true',
    ]);
    expect(again.body).toEqual(first.body);
  });

  it('replays a batch sent with atomic: false, then without atomic, under one key', async () => {
    const sender = await fundedUser(t, admin, '100');
    const receiver = await fundedUser(t, admin, '0');
    const transfers = [{ toWalletId: receiver.wallet.id, amount: '1.5', currency: 'USD' }];
    const key = randomUUID();
    const first = await post(sender.user, '/transfers/batch', key, { atomic: false, transfers }).expect(200);
    const again = await post(sender.user, '/transfers/batch', key, { transfers });
    expect([again.status, again.body.code, again.headers['idempotent-replayed']]).toEqual([
      200,
      undefined,
      'true',
    ]);
    expect(again.body).toEqual(first.body);
  });

  it('still refuses another request under the same key (422 IDEMPOTENCY_KEY_REUSED)', async () => {
    const sender = await fundedUser(t, admin, '100');
    const receiver = await fundedUser(t, admin, '0');
    const key = randomUUID();
    const body = { toWalletId: receiver.wallet.id, amount: '1', currency: 'USD' };
    await post(sender.user, '/transfers', key, body).expect(201);
    const other = await post(sender.user, '/transfers', key, { ...body, amount: '2' });
    expect([other.status, other.body.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    const batch = await post(sender.user, '/transfers/batch', key, { transfers: [body] });
    expect([batch.status, batch.body.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
  });
});
