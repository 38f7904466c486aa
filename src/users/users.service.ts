import { Injectable } from '@nestjs/common';
import { AppError } from '../common/errors/error-codes';
import { AppConfig } from '../config/app-config';
import { sqlState, UNIQUE_VIOLATION } from '../database/pg-errors';
import { TtlCache } from './ttl-cache';
import type { User, UserStatus } from './user.entity';
import { type NewUser, type UserAccessState, UsersRepository } from './users.repository';

/** Accounts: creation, look-ups, status changes, and the access state the JWT guard checks. */
@Injectable()
export class UsersService {
  /**
   * Status and role per user id, kept USER_STATUS_CACHE_MS: every authenticated request needs them, and
   * a few seconds of staleness is the price of not reading the users table on each one. A suspension
   * made on this instance applies at once (the entry is dropped); other instances see it within the TTL.
   * Money movement does not rely on this cache: it re-checks the status inside its own transaction.
   */
  private readonly access: TtlCache<string, UserAccessState | null>;

  constructor(
    private readonly users: UsersRepository,
    config: AppConfig,
  ) {
    this.access = new TtlCache(config.env.USER_STATUS_CACHE_MS);
  }

  /** Creates an ACTIVE user. The email must already be normalised; a taken one is EMAIL_TAKEN. */
  async register(input: NewUser): Promise<User> {
    try {
      return await this.users.create(input);
    } catch (err) {
      // The unique key is the only check: no read-then-insert race between two registrations.
      if (sqlState(err) === UNIQUE_VIOLATION)
        throw new AppError('EMAIL_TAKEN', 'This email is already registered');
      throw err;
    }
  }

  async getById(id: string): Promise<User> {
    const user = await this.users.getById(id);
    if (!user) throw new AppError('USER_NOT_FOUND', 'No user has this id');
    return user;
  }

  findByEmail(email: string): Promise<User | null> {
    return this.users.getByEmail(email);
  }

  /** The user and their password hash, for login only. */
  findCredentials(email: string): Promise<{ user: User; passwordHash: string } | null> {
    return this.users.getCredentialsByEmail(email);
  }

  /** Status and role of a user (null if there is none), cached for USER_STATUS_CACHE_MS. */
  getAccessState(id: string): Promise<UserAccessState | null> {
    return this.access.get(id, () => this.users.getAccessState(id));
  }

  async setStatus(id: string, status: UserStatus): Promise<User> {
    const user = await this.users.setStatus(id, status);
    this.access.delete(id);
    if (!user) throw new AppError('USER_NOT_FOUND', 'No user has this id');
    return user;
  }

  /** Creates the user as an ADMIN unless the email is taken; true when created. */
  createAdminIfAbsent(input: Omit<NewUser, 'role'>): Promise<boolean> {
    return this.users.createIfAbsent({ ...input, role: 'ADMIN' });
  }

  async promoteToAdmin(id: string, passwordHash?: string): Promise<void> {
    await this.users.promoteToAdmin(id, passwordHash);
    this.access.delete(id);
  }
}
