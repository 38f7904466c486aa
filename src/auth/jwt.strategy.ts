import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import passport from 'passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { AppError } from '../common/errors/error-codes';
import { AppConfig } from '../config/app-config';
import { UsersService } from '../users/users.service';
import type { AuthUser } from '../common/auth/auth-user';
import { type AccessTokenClaims, AccessTokens } from './access-tokens';

interface VerifiedPayload extends Partial<AccessTokenClaims> {
  iat?: unknown;
  exp?: unknown;
}

/** Each strategy instance's own passport Authenticator (see getPassportInstance). */
const authenticators = new WeakMap<object, passport.Authenticator>();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Verifies bearer tokens. The algorithm, issuer and audience sit at the top level of the options:
 * passport-jwt copies only those into jsonwebtoken's verify options and overwrites the same keys given
 * in `jsonWebTokenOptions` (passport-jwt lib/strategy.js), so pinning them there would silently do nothing.
 * The token is read from the Authorization header only: a token in a URL ends up in logs and histories.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    config: AppConfig,
    tokens: AccessTokens,
    private readonly users: UsersService,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      passReqToCallback: true,
      // The KeyObject the tokens are signed with (see AccessTokens): passport-jwt's types say string only.
      secretOrKey: tokens.key as unknown as string,
      algorithms: ['HS256'],
      issuer: config.env.JWT_ISSUER,
      audience: config.env.JWT_AUDIENCE,
      ignoreExpiration: false,
    });
  }

  /**
   * Registers this strategy with an Authenticator of its own instead of passport's process-wide one
   * (@nestjs/passport calls this hook from the constructor). With the global one, a second app instance
   * in the same process (the tests run several) would replace the first one's strategy, and the first
   * would then check tokens against the second one's database connection and configuration.
   */
  getPassportInstance(): passport.Authenticator {
    let authenticator = authenticators.get(this);
    if (!authenticator) {
      authenticator = new passport.Authenticator();
      authenticators.set(this, authenticator);
    }
    return authenticator;
  }

  /**
   * Runs after the signature and standard claims are verified. jsonwebtoken accepts a token without
   * `exp` (it checks exp only when present), so a token that never expires is refused here. Then the
   * user must still exist and be ACTIVE (cached for USER_STATUS_CACHE_MS); the role comes from the
   * database too, so a demotion applies without waiting for old tokens to expire.
   */
  async validate(
    request: { statusCheckedByHandler?: boolean },
    payload: VerifiedPayload,
  ): Promise<AuthUser | false> {
    const { sub, email, role, iat, exp } = payload;
    if (typeof exp !== 'number' || typeof iat !== 'number') return false;
    if (typeof sub !== 'string' || !UUID.test(sub) || typeof email !== 'string') return false;
    if (role !== 'USER' && role !== 'ADMIN') return false;
    // The handler checks the status inside its own database write (see StatusCheckedByHandler).
    if (request.statusCheckedByHandler) return { id: sub, email, role, iat };
    const access = await this.users.getAccessState(sub);
    if (!access) return false;
    if (access.status !== 'ACTIVE')
      throw new AppError('ACCOUNT_INACTIVE', `The account is ${access.status.toLowerCase()}`);
    return { id: sub, email, role: access.role, iat };
  }
}
