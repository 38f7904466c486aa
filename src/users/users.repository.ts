import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { eventInsert, eventInsertArrays, outboxEvent } from '../events/outbox';
import { UserDto } from './dto/user.dto';
import { User, type UserRole, type UserStatus } from './user.entity';

export interface NewUser {
  email: string;
  passwordHash: string;
  fullName: string;
  role?: UserRole;
}

/** What the JWT guard needs to know about a token's user, read on every (uncached) request. */
export interface UserAccessState {
  status: UserStatus;
  role: UserRole;
}

/** The users table. The password hash is read only by `getCredentialsByEmail`. */
@Injectable()
export class UsersRepository {
  constructor(@InjectRepository(User) private readonly users: Repository<User>) {}

  getById(id: string): Promise<User | null> {
    return this.users.findOneBy({ id });
  }

  getByEmail(email: string): Promise<User | null> {
    return this.users.findOneBy({ email });
  }

  async getCredentialsByEmail(email: string): Promise<{ user: User; passwordHash: string } | null> {
    const user = await this.users
      .createQueryBuilder('u')
      .addSelect('u.passwordHash')
      .where('u.email = :email', { email })
      .getOne();
    if (!user) return null;
    const { passwordHash, ...rest } = user;
    return { user: Object.assign(new User(), rest), passwordHash };
  }

  async getAccessState(id: string): Promise<UserAccessState | null> {
    const row = await this.users.findOne({ select: { status: true, role: true }, where: { id } });
    return row ? { status: row.status, role: row.role } : null;
  }

  /** Inserts a user; a taken email fails on the unique key users_email_key (23505). */
  async create(input: NewUser): Promise<User> {
    const values = { ...input, role: input.role ?? 'USER', status: 'ACTIVE' as const };
    const result = await this.users
      .createQueryBuilder()
      .insert()
      .values(values)
      .returning(['id', 'created_at', 'updated_at'])
      .execute();
    const generated = result.generatedMaps[0] as Pick<User, 'id' | 'createdAt' | 'updatedAt'>;
    const { passwordHash: _hash, ...visible } = values;
    return Object.assign(new User(), visible, generated);
  }

  /** Inserts the user unless the email is taken; true when this call created it. */
  async createIfAbsent(input: NewUser): Promise<boolean> {
    const result = await this.users
      .createQueryBuilder()
      .insert()
      .values({ ...input, role: input.role ?? 'USER', status: 'ACTIVE' })
      .orIgnore()
      .returning(['id'])
      .execute();
    return (result.raw as unknown[]).length > 0;
  }

  /**
   * Sets the status and, when it changes, writes its `user.status_changed` event in the same transaction
   * (the outbox: no change without its event). False when no such user.
   */
  async setStatus(id: string, status: UserStatus): Promise<boolean> {
    return this.users.manager.transaction(async (m) => {
      const result = await m
        .createQueryBuilder()
        .update(User)
        .set({ status })
        .where('id = :id AND status <> :status', { id, status })
        .execute();
      if ((result.affected ?? 0) === 0) return m.existsBy(User, { id });
      const user = await m.findOneByOrFail(User, { id });
      const wallets = await m.query<Array<{ id: string }>>(
        'SELECT id FROM wallets WHERE user_id = $1 ORDER BY id',
        [id],
      );
      const event = outboxEvent(
        'user.status_changed',
        wallets.map((w) => w.id),
        [id],
        { user: UserDto.from(user) },
      );
      await m.query(eventInsert(1, 'now()'), eventInsertArrays([event]));
      return true;
    });
  }

  async promoteToAdmin(id: string, passwordHash?: string): Promise<void> {
    await this.users
      .createQueryBuilder()
      .update()
      .set({ role: 'ADMIN', ...(passwordHash ? { passwordHash } : {}) })
      .where('id = :id', { id })
      .execute();
  }
}
