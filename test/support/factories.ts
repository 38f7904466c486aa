import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { TestApp } from './app';

export interface TestUser {
  id: string;
  email: string;
  password: string;
  token: string;
}

let counter = 0;

/** Registers a user through the API and logs in; `role: 'ADMIN'` promotes it directly in the database. */
export async function createUser(
  t: TestApp,
  opts: { role?: 'USER' | 'ADMIN'; email?: string; password?: string; fullName?: string } = {},
): Promise<TestUser> {
  counter += 1;
  const email = opts.email ?? `user${counter}-${randomUUID().slice(0, 8)}@example.com`;
  const password = opts.password ?? 'correct horse battery staple';
  const reg = await request(t.server)
    .post('/api/v1/auth/register')
    .send({ email, password, fullName: opts.fullName ?? `Test User ${counter}` });
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`);
  const id = (reg.body as { id: string }).id;
  if (opts.role === 'ADMIN') await t.sql.query(`UPDATE users SET role = 'ADMIN' WHERE id = $1`, [id]);
  const login = await request(t.server).post('/api/v1/auth/login').send({ email, password });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`);
  return {
    id,
    email: email.toLowerCase(),
    password,
    token: (login.body as { accessToken: string }).accessToken,
  };
}

export interface TestWallet {
  id: string;
  currency: string;
}

export async function createWallet(t: TestApp, user: TestUser, currency = 'USD'): Promise<TestWallet> {
  const res = await request(t.server)
    .post('/api/v1/wallets')
    .auth(user.token, { type: 'bearer' })
    .send({ currency });
  if (res.status !== 201) throw new Error(`wallet failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: (res.body as { id: string }).id, currency };
}

/** An admin deposit through the API (a fresh Idempotency-Key each call). */
export async function deposit(
  t: TestApp,
  admin: TestUser,
  walletId: string,
  amount: string,
  currency = 'USD',
) {
  const res = await request(t.server)
    .post(`/api/v1/admin/wallets/${walletId}/deposits`)
    .auth(admin.token, { type: 'bearer' })
    .set('Idempotency-Key', randomUUID())
    .send({ amount, currency });
  if (res.status !== 201) throw new Error(`deposit failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string };
}

/** A user with a wallet holding `balance` (deposited by `admin`). */
export async function fundedUser(t: TestApp, admin: TestUser, balance: string, currency = 'USD') {
  const user = await createUser(t);
  const wallet = await createWallet(t, user, currency);
  if (balance !== '0') await deposit(t, admin, wallet.id, balance, currency);
  return { user, wallet };
}
