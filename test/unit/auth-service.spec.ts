import jwt from 'jsonwebtoken';
import { AccessTokens } from '../../src/auth/access-tokens';
import { AuthService } from '../../src/auth/auth.service';
import type { PasswordHasher } from '../../src/auth/password-hasher';
import { AppError } from '../../src/common/errors/error-codes';
import { loadConfig } from '../../src/config/app-config';
import { User, type UserStatus } from '../../src/users/user.entity';
import type { UsersService } from '../../src/users/users.service';

function user(status: UserStatus = 'ACTIVE'): User {
  return Object.assign(new User(), {
    id: '3f0c9a52-8a43-4c4e-9a0e-2f1b7d6c5e4a',
    email: 'ada@example.com',
    fullName: 'Ada',
    status,
    role: 'USER',
    createdAt: new Date(),
    updatedAt: new Date(),
  });
}

describe('AuthService.login', () => {
  const config = loadConfig({ NODE_ENV: 'test', SECRET_KEY: 'unit-test-secret-key-long-enough-0123456789' });
  const tokens = new AccessTokens(config);
  let hasher: { verify: jest.Mock; verifyAgainstDummy: jest.Mock; hash: jest.Mock };
  let findCredentials: jest.Mock;
  let service: AuthService;

  beforeEach(() => {
    hasher = { verify: jest.fn(), verifyAgainstDummy: jest.fn().mockResolvedValue(false), hash: jest.fn() };
    findCredentials = jest.fn();
    service = new AuthService(
      { findCredentials } as unknown as UsersService,
      hasher as unknown as PasswordHasher,
      tokens,
      config,
    );
  });

  async function refusal(promise: Promise<unknown>): Promise<AppError> {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }

  it('does one bcrypt verification for an unknown email too (against the dummy hash) and gives the same error', async () => {
    findCredentials.mockResolvedValueOnce(null);
    const unknown = await refusal(service.login('nobody@example.com', 'some password'));
    findCredentials.mockResolvedValueOnce({ user: user(), passwordHash: '$2b$10$hash' });
    hasher.verify.mockResolvedValueOnce(false);
    const wrong = await refusal(service.login('ada@example.com', 'some password'));

    expect(hasher.verifyAgainstDummy).toHaveBeenCalledTimes(1);
    expect(hasher.verify).toHaveBeenCalledTimes(1);
    expect([unknown.code, unknown.detail]).toEqual([wrong.code, wrong.detail]);
    expect(unknown.code).toBe('INVALID_CREDENTIALS');
  });

  it('tells an inactive account apart only to whoever knows its password', async () => {
    findCredentials.mockResolvedValue({ user: user('SUSPENDED'), passwordHash: '$2b$10$hash' });
    hasher.verify.mockResolvedValueOnce(false);
    expect((await refusal(service.login('ada@example.com', 'wrong'))).code).toBe('INVALID_CREDENTIALS');
    hasher.verify.mockResolvedValueOnce(true);
    expect((await refusal(service.login('ada@example.com', 'right'))).code).toBe('ACCOUNT_INACTIVE');
  });

  it('issues a token with exactly sub, email and role besides the registered claims', async () => {
    findCredentials.mockResolvedValue({ user: user(), passwordHash: '$2b$10$hash' });
    hasher.verify.mockResolvedValueOnce(true);
    const token = await service.login('ada@example.com', 'right');
    expect(token).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
    const payload = jwt.verify(token.accessToken, config.secretKey, {
      algorithms: ['HS256'],
      issuer: 'hfts',
      audience: 'hfts-api',
    }) as Record<string, unknown>;
    expect(Object.keys(payload).sort()).toEqual(['aud', 'email', 'exp', 'iat', 'iss', 'role', 'sub']);
    expect(payload).toMatchObject({ sub: user().id, email: 'ada@example.com', role: 'USER' });
  });
});
