import { Body, Controller, Get, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { type AuthUser, CurrentUser } from '../common/auth/auth-user';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { CreateWalletDto, WalletDto } from './dto/wallet.dto';
import { WalletsService } from './wallets.service';

@ApiTags('wallets')
@ApiBearerAuth('bearer')
@ApiProblems(401, [403, 'ACCOUNT_INACTIVE: the account was suspended or closed'], 429, 503)
@Controller('wallets')
export class WalletsController {
  constructor(private readonly wallets: WalletsService) {}

  @Post()
  @ApiOperation({ operationId: 'createWallet', summary: 'Open your wallet (one per user)' })
  @ApiCreatedResponse({ type: WalletDto, description: 'The new wallet, balance 0.0000' })
  @ApiProblems(400, [409, 'WALLET_EXISTS: you already have a wallet'])
  async create(@CurrentUser() user: AuthUser, @Body() dto: CreateWalletDto): Promise<WalletDto> {
    return WalletDto.from(await this.wallets.create(user.id, dto.currency));
  }

  @Get('me')
  @ApiOperation({ operationId: 'getMyWallet', summary: 'Your wallet, with balance and available balance' })
  @ApiOkResponse({ type: WalletDto, description: 'Your wallet' })
  @ApiProblems([404, 'WALLET_NOT_FOUND: no wallet yet'])
  async mine(@CurrentUser() user: AuthUser): Promise<WalletDto> {
    return WalletDto.from(await this.wallets.getMine(user.id));
  }
}
