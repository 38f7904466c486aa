import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppError } from '../common/errors/error-codes';
import { AppConfig } from '../config/app-config';
import { CreatedWebhookDto, type CreateWebhookDto, WebhookDeliveryDto, WebhookDto } from './dto/webhook.dto';
import { resolveWebhookTarget, UrlRefused } from './url-guard';
import { WebhooksRepository } from './webhooks.repository';

const DELIVERY_LOG_LIMIT = 100;
/** Endpoints one user may have: each event is sent once per endpoint, so this bounds the fan-out a user can cause. */
export const MAX_ENDPOINTS_PER_USER = 10;

/**
 * Registration, listing and deletion of webhook endpoints, and their delivery log. The secret is made
 * here, returned once by `register` and otherwise only read by the dispatcher to sign; it is never
 * logged (nothing here logs, and request logs carry no bodies: src/bootstrap/logger.ts).
 */
@Injectable()
export class WebhooksService {
  constructor(
    private readonly config: AppConfig,
    private readonly repository: WebhooksRepository,
  ) {}

  async register(userId: string, dto: CreateWebhookDto): Promise<CreatedWebhookDto> {
    try {
      await resolveWebhookTarget(dto.url, this.config.env.WEBHOOK_ALLOW_PRIVATE);
    } catch (err) {
      if (err instanceof UrlRefused) throw new AppError('WEBHOOK_URL_REFUSED', err.message);
      throw err;
    }
    // Standard Webhooks: `whsec_` and base64 of the key; 24 bytes is its minimum, 32 gives HMAC-SHA256 a full key.
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const row = await this.repository.create(
      userId,
      dto.url,
      dto.eventTypes ?? null,
      secret,
      MAX_ENDPOINTS_PER_USER,
    );
    if (!row) {
      throw new AppError(
        'CONSTRAINT_VIOLATION',
        `At most ${MAX_ENDPOINTS_PER_USER} webhook endpoints per user: delete one first`,
      );
    }
    return CreatedWebhookDto.from(row, secret);
  }

  async list(userId: string): Promise<WebhookDto[]> {
    return (await this.repository.listMine(userId)).map((row) => WebhookDto.from(row));
  }

  async remove(userId: string, id: string): Promise<void> {
    if (!(await this.repository.deleteMine(userId, id))) throw new AppError('NOT_FOUND', 'No such webhook');
  }

  async deliveries(userId: string, id: string): Promise<WebhookDeliveryDto[]> {
    const rows = await this.repository.attemptsOfMine(userId, id, DELIVERY_LOG_LIMIT);
    if (!rows) throw new AppError('NOT_FOUND', 'No such webhook');
    return rows.map((row) => WebhookDeliveryDto.from(row));
  }
}
