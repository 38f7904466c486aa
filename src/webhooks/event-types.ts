/** The event types a webhook can filter on (contract v1.1, docs/API.md "Events and webhooks"). */
export const WEBHOOK_EVENT_TYPES = [
  'transaction.completed',
  'transaction.failed',
  'hold.created',
  'hold.captured',
  'hold.voided',
  'hold.expired',
  'refund.completed',
  'user.status_changed',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
