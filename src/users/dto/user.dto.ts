import { ApiProperty } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { USER_ROLES, USER_STATUSES, type User, type UserRole, type UserStatus } from '../user.entity';

/** A user as the API shows it. Built by `from`, which lists every field that goes out. */
export class UserDto {
  @ApiProperty({ format: 'uuid', example: '3f0c9a52-8a43-4c4e-9a0e-2f1b7d6c5e4a' }) id!: string;
  @ApiProperty({ example: 'ada@example.com', description: 'Stored trimmed and lower-cased' }) email!: string;
  @ApiProperty({ example: 'Ada Lovelace' }) fullName!: string;
  @ApiProperty({ enum: USER_STATUSES, example: 'ACTIVE' }) status!: UserStatus;
  @ApiProperty({ enum: USER_ROLES, example: 'USER' }) role!: UserRole;
  @ApiProperty({ format: 'date-time', example: '2025-11-24T10:15:30.000Z' }) createdAt!: string;
  @ApiProperty({ format: 'date-time', example: '2025-11-24T10:15:30.000Z' }) updatedAt!: string;

  static from(u: User): UserDto {
    return {
      id: u.id,
      email: u.email,
      fullName: u.fullName,
      status: u.status,
      role: u.role,
      createdAt: u.createdAt.toISOString(),
      updatedAt: u.updatedAt.toISOString(),
    };
  }
}

export class UpdateUserStatusDto {
  @ApiProperty({ enum: USER_STATUSES, example: 'SUSPENDED' })
  @IsIn(USER_STATUSES)
  status!: UserStatus;
}
