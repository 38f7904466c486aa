import { ApiProperty, PickType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsEmail, IsNotEmpty, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { IsStorableText } from '../../common/http/field-rules';
import { normaliseEmail } from '../../users/email';
import { PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS } from '../password-hasher';
import { MaxUtf8Bytes, MinChars } from './password.validators';

const trimmedLowerCase = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? normaliseEmail(value) : value;
const trimmed = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? value.trim() : value;

export class RegisterDto {
  @ApiProperty({
    example: 'ada@example.com',
    maxLength: 254,
    description: 'Compared case-insensitively; stored lower-cased',
  })
  @Transform(trimmedLowerCase)
  // class-validator runs these bottom-up and stops at the first failure: the string and ASCII checks come
  // first, because validator's isEmail throws (a 500) on a lone UTF-16 surrogate instead of refusing it.
  @IsEmail({ allow_utf8_local_part: false, require_tld: true }, { message: 'email must be an email address' })
  // ASCII only: the database lower-cases with its own locale rules, which agree with ours on ASCII.
  @Matches(/^[\x21-\x7e]+$/, { message: 'email must be an ASCII address' })
  @MaxLength(254)
  @IsString()
  email!: string;

  @ApiProperty({
    example: 'my long pass phrase',
    format: 'password',
    minLength: PASSWORD_MIN_CHARS,
    description: `At least ${PASSWORD_MIN_CHARS} characters and at most ${PASSWORD_MAX_BYTES} bytes in UTF-8 (never truncated)`,
  })
  @IsString()
  @MinChars(PASSWORD_MIN_CHARS)
  @MaxUtf8Bytes(PASSWORD_MAX_BYTES)
  password!: string;

  @ApiProperty({ example: 'Ada Lovelace', minLength: 1, maxLength: 200 })
  @Transform(trimmed)
  @IsString()
  @MinLength(1, { message: 'fullName must not be empty' })
  @MaxLength(200)
  @Matches(/^[^\p{Cc}]*$/u, { message: 'fullName must not contain control characters' })
  @IsStorableText()
  fullName!: string;
}

export class LoginDto extends PickType(RegisterDto, ['email'] as const) {
  @ApiProperty({ example: 'my long pass phrase', format: 'password' })
  @IsString()
  @IsNotEmpty()
  // A longer password can never match (none is stored), and bcrypt would silently compare only its
  // first 72 bytes: refuse it rather than let a prefix log in.
  @MaxUtf8Bytes(PASSWORD_MAX_BYTES)
  password!: string;
}

export class TokenDto {
  @ApiProperty({
    example: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl',
    description: 'A JWT (HS256)',
  })
  accessToken!: string;

  @ApiProperty({ enum: ['Bearer'], example: 'Bearer' })
  tokenType!: 'Bearer';

  @ApiProperty({ type: 'integer', example: 900, description: 'Lifetime of the token, in seconds' })
  expiresIn!: number;
}
