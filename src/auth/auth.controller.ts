import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { UserDto } from '../users/dto/user.dto';
import { AuthService } from './auth.service';
import { LoginDto, RegisterDto, TokenDto } from './dto/auth.dto';
import { Public } from '../common/auth/public.decorator';
import { AuthRateLimit } from './throttling/auth-rate-limit.decorator';

@ApiTags('auth')
@Public()
@AuthRateLimit()
@ApiProblems([429, 'RATE_LIMITED: too many attempts from this address or for this account, see Retry-After'])
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('register')
  @ApiOperation({
    operationId: 'register',
    summary: 'Create an account',
    description: 'Then log in to get a token.',
  })
  @ApiCreatedResponse({ type: UserDto, description: 'The new account (role USER, status ACTIVE)' })
  @ApiProblems([400, 'VALIDATION_FAILED: bad email, password or fullName'], [409, 'EMAIL_TAKEN'])
  async register(@Body() dto: RegisterDto): Promise<UserDto> {
    return UserDto.from(await this.auth.register(dto));
  }

  @Post('login')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'login',
    summary: 'Exchange email and password for a bearer token',
    description: 'Paste the accessToken into **Authorize** to call the other endpoints.',
  })
  @ApiOkResponse({ type: TokenDto, description: 'A bearer token' })
  @ApiProblems(
    [400, 'VALIDATION_FAILED'],
    [401, 'INVALID_CREDENTIALS: unknown email or wrong password (the same answer for both)'],
    [403, 'ACCOUNT_INACTIVE: the account is suspended or closed'],
    [
      503,
      'SERVICE_UNAVAILABLE: too many logins at once, the database is down, or the instance is shutting down, see Retry-After',
    ],
  )
  login(@Body() dto: LoginDto): Promise<TokenDto> {
    return this.auth.login(dto.email, dto.password);
  }
}
