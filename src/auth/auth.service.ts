import { Injectable } from '@nestjs/common';
import { AppError } from '../common/errors/error-codes';
import { AppConfig } from '../config/app-config';
import type { User } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { type AccessTokenClaims, AccessTokens } from './access-tokens';
import { PasswordHasher } from './password-hasher';

export interface IssuedToken {
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

/** Registration and login. Emails arrive normalised (the DTOs trim and lower-case them). */
@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly tokens: AccessTokens,
    private readonly config: AppConfig,
  ) {}

  async register(input: { email: string; password: string; fullName: string }): Promise<User> {
    // Hashed before the insert, so a taken email costs the same time as a free one.
    const passwordHash = await this.hasher.hash(input.password);
    return this.users.register({ email: input.email, passwordHash, fullName: input.fullName });
  }

  /**
   * Unknown email and wrong password give the same error after the same work (one bcrypt verification,
   * against a dummy hash when there is no such user). Account status is told only to whoever knows the
   * password, so it is no oracle for whether an email is registered.
   */
  async login(email: string, password: string): Promise<IssuedToken> {
    const credentials = await this.users.findCredentials(email);
    const valid = credentials
      ? await this.hasher.verify(password, credentials.passwordHash)
      : await this.hasher.verifyAgainstDummy(password);
    if (!credentials || !valid) throw new AppError('INVALID_CREDENTIALS', 'The email or password is wrong');
    const { user } = credentials;
    if (user.status !== 'ACTIVE')
      throw new AppError('ACCOUNT_INACTIVE', `The account is ${user.status.toLowerCase()}`);
    const claims: AccessTokenClaims = { sub: user.id, email: user.email, role: user.role };
    return {
      accessToken: this.tokens.sign(claims),
      tokenType: 'Bearer',
      expiresIn: this.config.env.JWT_TTL_SECONDS,
    };
  }
}
