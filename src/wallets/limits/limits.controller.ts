import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { type AuthUser, CurrentUser } from '../../common/auth/auth-user';
import { Roles } from '../../common/auth/roles.decorator';
import { ApiProblems } from '../../common/http/api-problems.decorator';
import { UUID_PARAM } from '../../common/http/params';
import { LimitsDto, limitsDtoOf, SetLimitsDto } from './dto/limits.dto';
import { LimitsService } from './limits.service';

@ApiTags('wallets')
@ApiBearerAuth('bearer')
@ApiProblems(401, 429)
@Controller()
export class LimitsController {
  constructor(private readonly limits: LimitsService) {}

  @Get('wallets/me/limits')
  @ApiOperation({
    operationId: 'getMyLimits',
    summary: "Your wallet's spending limits, overdraft and what each window has used",
  })
  @ApiOkResponse({
    type: LimitsDto,
    description: 'The limits, in the order PER_TRANSACTION, DAILY, WEEKLY, MONTHLY',
  })
  @ApiProblems(
    [403, 'ACCOUNT_INACTIVE: the account was suspended or closed'],
    [404, 'WALLET_NOT_FOUND: no wallet yet'],
  )
  async mine(@CurrentUser() user: AuthUser): Promise<LimitsDto> {
    return limitsDtoOf(await this.limits.mine(user.id), new Date());
  }

  @Get('admin/wallets/:id/limits')
  @Roles('ADMIN')
  @ApiTags('admin')
  @ApiOperation({ operationId: 'getWalletLimits', summary: "Admin: a wallet's limits, overdraft and usage" })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: LimitsDto, description: 'The limits and the usage of their current windows' })
  @ApiProblems(
    [400, 'VALIDATION_FAILED: the id is not a UUID'],
    [403, 'FORBIDDEN: admins only; ACCOUNT_INACTIVE: your account is not active'],
    [404, 'WALLET_NOT_FOUND'],
  )
  async of(@Param('id', UUID_PARAM) walletId: string): Promise<LimitsDto> {
    return limitsDtoOf(await this.limits.of(walletId), new Date());
  }

  @Put('admin/wallets/:id/limits')
  @Roles('ADMIN')
  @ApiTags('admin')
  @ApiOperation({
    operationId: 'setWalletLimits',
    summary: "Admin: replace a wallet's limits (and set its overdraft)",
    description:
      'PUT replaces the whole set: an empty list removes every limit; `overdraftLimit` left out keeps its ' +
      'value. A limit set mid-window counts what the wallet already spent in it. Movements that would take a ' +
      'window past its limit are then refused 422 LIMIT_EXCEEDED.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: LimitsDto, description: 'The limits as they now stand, with their usage' })
  @ApiProblems(
    [
      400,
      'VALIDATION_FAILED: a window twice, an entry with neither maxAmount nor maxCount, maxCount on PER_TRANSACTION, a malformed amount',
    ],
    [403, 'FORBIDDEN: admins only; ACCOUNT_INACTIVE: your account is not active'],
    [404, 'WALLET_NOT_FOUND'],
  )
  async set(@Param('id', UUID_PARAM) walletId: string, @Body() dto: SetLimitsDto): Promise<LimitsDto> {
    return limitsDtoOf(await this.limits.set(walletId, dto), new Date());
  }
}
