import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { type AuthUser, CurrentUser } from '../common/auth/auth-user';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { UUID_PARAM } from '../common/http/params';
import {
  CreatedWebhookDto,
  CreateWebhookDto,
  WebhookDeliveryListDto,
  WebhookListDto,
} from './dto/webhook.dto';
import { WebhooksService } from './webhooks.service';

@ApiTags('webhooks')
@ApiBearerAuth('bearer')
@ApiProblems(401, [403, 'ACCOUNT_INACTIVE: the account was suspended or closed'], 429, 503)
@Controller('webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @ApiOperation({
    operationId: 'createWebhook',
    summary: 'Register a webhook endpoint for the events touching you (admins: all events)',
  })
  @ApiCreatedResponse({
    type: CreatedWebhookDto,
    description: 'The endpoint, with its secret: shown only here',
  })
  @ApiProblems([
    400,
    'VALIDATION_FAILED, MALFORMED_JSON, or WEBHOOK_URL_REFUSED: not https, or resolving to a loopback, private or link-local address',
  ])
  @ApiProblems([422, 'CONSTRAINT_VIOLATION: you already have the most endpoints a user may have (10)'])
  create(@CurrentUser() user: AuthUser, @Body() dto: CreateWebhookDto): Promise<CreatedWebhookDto> {
    return this.webhooks.register(user.id, dto);
  }

  @Get()
  @ApiOperation({ operationId: 'listWebhooks', summary: 'Your webhook endpoints (without their secrets)' })
  @ApiOkResponse({ type: WebhookListDto, description: 'Your endpoints, oldest first' })
  async list(@CurrentUser() user: AuthUser): Promise<WebhookListDto> {
    return { items: await this.webhooks.list(user.id) };
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'deleteWebhook',
    summary: 'Delete a webhook endpoint: nothing more is sent to it',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(400, [404, 'NOT_FOUND: no such webhook of yours'])
  remove(@CurrentUser() user: AuthUser, @Param('id', UUID_PARAM) id: string): Promise<void> {
    return this.webhooks.remove(user.id, id);
  }

  @Get(':id/deliveries')
  @ApiOperation({ operationId: 'listWebhookDeliveries', summary: 'The delivery log of a webhook endpoint' })
  @ApiOkResponse({
    type: WebhookDeliveryListDto,
    description: 'Every attempt, newest first (the latest 100)',
  })
  @ApiProblems(400, [404, 'NOT_FOUND: no such webhook of yours'])
  async deliveries(
    @CurrentUser() user: AuthUser,
    @Param('id', UUID_PARAM) id: string,
  ): Promise<WebhookDeliveryListDto> {
    return { items: await this.webhooks.deliveries(user.id, id) };
  }
}
