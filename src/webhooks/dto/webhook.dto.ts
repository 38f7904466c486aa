import { ApiProperty, ApiPropertyOptional, OmitType } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsArray, IsIn, Matches } from 'class-validator';
import { IsText, Optional } from '../../common/http/field-rules';
import { EVENT_TYPES, type EventType } from '../../events/outbox';
import type { WebhookAttemptRow, WebhookEndpointRow } from '../webhooks.repository';

export class CreateWebhookDto {
  @ApiProperty({
    example: 'https://example.com/hooks/hfts',
    maxLength: 2048,
    description:
      'Where to POST the events. Must be https and must not resolve to a loopback, private, link-local or ' +
      'other special-purpose address (400 WEBHOOK_URL_REFUSED), unless the operator set WEBHOOK_ALLOW_PRIVATE',
  })
  @IsText(2048)
  @Matches(/^https?:\/\/[^\s]+$/i, { message: 'must be an absolute http(s) URL' })
  url!: string;

  @ApiPropertyOptional({
    enum: EVENT_TYPES,
    enumName: 'EventType',
    isArray: true,
    example: ['transaction.completed', 'refund.completed'],
    description: 'Only these event types; absent: every type (including types added later)',
  })
  @Optional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(EVENT_TYPES.length)
  @ArrayUnique()
  @IsIn(EVENT_TYPES, {
    each: true,
    message: `each value must be one of ${EVENT_TYPES.join(', ')}`,
  })
  eventTypes?: EventType[];
}

export class CreatedWebhookDto {
  @ApiProperty({ format: 'uuid', example: '7d1e5f0a-2b3c-4d5e-8f90-a1b2c3d4e5f6' }) id!: string;
  @ApiProperty({ example: 'https://example.com/hooks/hfts' }) url!: string;
  @ApiProperty({
    enum: EVENT_TYPES,
    enumName: 'EventType',
    isArray: true,
    nullable: true,
    description: 'The types delivered; null: every type',
  })
  eventTypes!: EventType[] | null;
  @ApiProperty({
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    description:
      'The signing secret (Standard Webhooks: `whsec_` and base64 of 24 random bytes). Shown only in this answer: keep it',
  })
  secret!: string;
  @ApiProperty({ format: 'date-time', example: '2025-11-24T10:15:30.000Z' }) createdAt!: string;

  static from(row: WebhookEndpointRow, secret: string): CreatedWebhookDto {
    return { ...WebhookDto.from(row), secret };
  }
}

/** An endpoint as listed: everything but the secret, which is never shown again. */
export class WebhookDto extends OmitType(CreatedWebhookDto, ['secret'] as const) {
  static from(row: WebhookEndpointRow): WebhookDto {
    return {
      id: row.id,
      url: row.url,
      eventTypes: (row.event_types as EventType[] | null) ?? null,
      createdAt: row.created_at.toISOString(),
    };
  }
}

export class WebhookListDto {
  @ApiProperty({ type: [WebhookDto] }) items!: WebhookDto[];
}

export class WebhookDeliveryDto {
  @ApiProperty({ format: 'uuid', example: '0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f' }) eventId!: string;
  @ApiProperty({ type: 'integer', example: 1, description: 'Attempt number for this event, from 1' })
  attempt!: number;
  @ApiProperty({ enum: ['SUCCEEDED', 'FAILED'], example: 'SUCCEEDED' }) status!: 'SUCCEEDED' | 'FAILED';
  @ApiProperty({
    type: 'integer',
    nullable: true,
    example: 200,
    description: 'The HTTP status the receiver answered; null when nothing answered (refused, time-out)',
  })
  responseStatus!: number | null;
  @ApiProperty({ format: 'date-time', example: '2025-11-24T10:15:31.000Z' }) at!: string;

  static from(row: WebhookAttemptRow): WebhookDeliveryDto {
    return {
      eventId: row.event_id,
      attempt: row.attempt,
      status: row.status,
      responseStatus: row.response_status,
      at: row.at.toISOString(),
    };
  }
}

export class WebhookDeliveryListDto {
  @ApiProperty({ type: [WebhookDeliveryDto], description: 'The latest attempts, newest first (at most 100)' })
  items!: WebhookDeliveryDto[];
}
