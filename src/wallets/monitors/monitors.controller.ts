import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { type AuthUser, CurrentUser } from '../../common/auth/auth-user';
import { ApiProblems } from '../../common/http/api-problems.decorator';
import { UUID_PARAM } from '../../common/http/params';
import { CreateMonitorDto, MonitorDto, MonitorListDto } from './dto/monitor.dto';
import { MonitorsService } from './monitors.service';

@ApiTags('wallets')
@ApiBearerAuth('bearer')
@ApiProblems(401, [403, 'ACCOUNT_INACTIVE: the account was suspended or closed'], 429)
@Controller('wallets/me/monitors')
export class MonitorsController {
  constructor(private readonly monitors: MonitorsService) {}

  @Post()
  @ApiOperation({
    operationId: 'createMonitor',
    summary: 'Watch your balance or available balance against a value',
    description:
      'Each committed change that makes `field operator value` true writes one `monitor.triggered` event; ' +
      'each change back, one `monitor.cleared` (events API, NATS, webhooks). `met` is computed at creation, ' +
      'without an event.',
  })
  @ApiCreatedResponse({ type: MonitorDto, description: 'The monitor, with `met` as the wallet stands now' })
  @ApiProblems(
    400,
    [404, 'WALLET_NOT_FOUND: no wallet yet'],
    [422, 'CONSTRAINT_VIOLATION: the wallet already has 10 monitors'],
  )
  async create(@CurrentUser() user: AuthUser, @Body() dto: CreateMonitorDto): Promise<MonitorDto> {
    return MonitorDto.from(await this.monitors.create(user.id, dto));
  }

  @Get()
  @ApiOperation({ operationId: 'listMonitors', summary: "Your wallet's monitors, oldest first" })
  @ApiOkResponse({ type: MonitorListDto, description: 'Every monitor of your wallet' })
  @ApiProblems([404, 'WALLET_NOT_FOUND: no wallet yet'])
  async list(@CurrentUser() user: AuthUser): Promise<MonitorListDto> {
    return { items: (await this.monitors.list(user.id)).map((m) => MonitorDto.from(m)) };
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ operationId: 'deleteMonitor', summary: 'Delete one of your monitors' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems([400, 'VALIDATION_FAILED: the id is not a UUID'], [404, 'NOT_FOUND: no such monitor of yours'])
  async delete(@CurrentUser() user: AuthUser, @Param('id', UUID_PARAM) id: string): Promise<void> {
    await this.monitors.delete(user.id, id);
  }
}
