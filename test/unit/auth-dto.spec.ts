import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { LoginDto, RegisterDto } from '../../src/auth/dto/auth.dto';

async function problems(
  cls: typeof RegisterDto | typeof LoginDto,
  body: Record<string, unknown>,
): Promise<Record<string, string[]>> {
  const dto = plainToInstance(cls, body);
  const errors = await validate(dto, { whitelist: true, forbidNonWhitelisted: true });
  return Object.fromEntries(errors.map((e) => [e.property, Object.keys(e.constraints ?? {})]));
}

describe('RegisterDto', () => {
  const valid = { email: 'ada@example.com', password: 'long enough', fullName: 'Ada' };

  it('normalises the email (trimmed, lower-cased) and trims the name', () => {
    const dto = plainToInstance(RegisterDto, { ...valid, email: '  Ada@Example.COM ', fullName: '  Ada  ' });
    expect(dto.email).toBe('ada@example.com');
    expect(dto.fullName).toBe('Ada');
  });

  it('accepts a valid body', async () => {
    expect(await problems(RegisterDto, valid)).toEqual({});
  });

  it.each([
    ['7 characters', 'abcdefg', 'minChars'],
    ['7 emoji (14 UTF-16 units)', '😀'.repeat(7), 'minChars'],
    ['73 bytes', `${'é'.repeat(36)}a`, 'maxUtf8Bytes'],
    ['not a string', 12345678, 'isString'],
  ])('refuses a password of %s', async (_name, password, constraint) => {
    expect((await problems(RegisterDto, { ...valid, password }))['password']).toContain(constraint);
  });

  it('accepts a password of exactly 72 bytes and one of 8 multi-byte characters', async () => {
    expect(await problems(RegisterDto, { ...valid, password: 'é'.repeat(36) })).toEqual({});
    expect(await problems(RegisterDto, { ...valid, password: '😀'.repeat(8) })).toEqual({});
    expect(await problems(RegisterDto, { ...valid, password: '😀'.repeat(18) })).toEqual({});
  });

  it.each([
    'not-an-email',
    'a@b',
    'a b@example.com',
    'ädä@example.com',
    `${'a'.repeat(250)}@example.com`,
    42,
  ])('refuses the email %p', async (email) => {
    expect(await problems(RegisterDto, { ...valid, email })).toHaveProperty('email');
  });

  it('refuses an empty or control-character name', async () => {
    expect(await problems(RegisterDto, { ...valid, fullName: '   ' })).toHaveProperty('fullName');
    expect(await problems(RegisterDto, { ...valid, fullName: 'Ada\u0000' })).toHaveProperty('fullName');
  });
});

describe('LoginDto', () => {
  it('does not apply the length rule (a short password is just wrong) but refuses more than 72 bytes', async () => {
    expect(await problems(LoginDto, { email: 'ada@example.com', password: 'short' })).toEqual({});
    expect(
      (await problems(LoginDto, { email: 'ada@example.com', password: 'x'.repeat(73) }))['password'],
    ).toContain('maxUtf8Bytes');
    expect((await problems(LoginDto, { email: 'ada@example.com', password: '' }))['password']).toContain(
      'isNotEmpty',
    );
  });
});
