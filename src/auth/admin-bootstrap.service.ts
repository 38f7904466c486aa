import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ConfigError } from '../config/validate-settings';
import { normaliseEmail } from '../users/email';
import { UsersService } from '../users/users.service';
import { PASSWORD_MAX_BYTES, PasswordHasher } from './password-hasher';

/**
 * When ADMIN_EMAIL and ADMIN_PASSWORD are set, makes sure at start-up that this user exists with role
 * ADMIN. Idempotent across restarts and safe when several instances start at once.
 *
 * - No such user: created as an ADMIN with ADMIN_PASSWORD.
 * - Already an ADMIN: left alone. Its password is NOT reset, so a password changed since is not undone
 *   by the next restart with an old ADMIN_PASSWORD still in the environment.
 * - An existing non-admin: promoted AND given ADMIN_PASSWORD. Otherwise anyone who registered that
 *   address first (say, before the operator configured it) would become an admin with a password the
 *   operator does not know; setting the password hands the account to whoever holds ADMIN_PASSWORD.
 * The account status is not changed: a suspended admin stays suspended.
 */
@Injectable()
export class AdminBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger('AdminBootstrap');

  constructor(
    private readonly config: AppConfig,
    private readonly users: UsersService,
    private readonly hasher: PasswordHasher,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { ADMIN_EMAIL, ADMIN_PASSWORD } = this.config.env;
    if (!ADMIN_EMAIL || !ADMIN_PASSWORD) return;
    if (Buffer.byteLength(ADMIN_PASSWORD, 'utf8') > PASSWORD_MAX_BYTES) {
      throw new ConfigError(
        `Invalid configuration: ADMIN_PASSWORD must be at most ${PASSWORD_MAX_BYTES} bytes in UTF-8`,
      );
    }
    const email = normaliseEmail(ADMIN_EMAIL);
    const existing = await this.users.findByEmail(email);
    if (existing?.role === 'ADMIN') {
      this.logger.log(`Admin ${email} already exists`);
      return;
    }
    const passwordHash = await this.hasher.hash(ADMIN_PASSWORD);
    if (!existing) {
      const created = await this.users.createAdminIfAbsent({
        email,
        passwordHash,
        fullName: 'Administrator',
      });
      if (created) {
        this.logger.log(`Admin ${email} created`);
        return;
      }
    }
    // Promote the existing user, or the one another instance created between our read and insert.
    const user = existing ?? (await this.users.findByEmail(email));
    if (!user) throw new Error(`admin bootstrap: ${email} vanished during start-up`);
    if (user.role === 'ADMIN') return;
    await this.users.promoteToAdmin(user.id, passwordHash);
    this.logger.warn(`Existing user ${email} promoted to ADMIN; its password was set to ADMIN_PASSWORD`);
  }
}
