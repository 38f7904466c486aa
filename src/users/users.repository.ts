import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
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

  /** Sets the status; false when no such user. */
  async setStatus(id: string, status: UserStatus): Promise<boolean> {
    const result = await this.users
      .createQueryBuilder()
      .update()
      .set({ status })
      .where('id = :id', { id })
      .execute();
    return (result.affected ?? 0) > 0;
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
