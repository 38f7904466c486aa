import { Matches } from 'class-validator';
import { IntSetting } from './setting.decorators';
import { ConfigError, validateSettings } from './validate-settings';

/**
 * Knobs only the fault tests turn, kept out of the production schema (EnvironmentVariables, the README's
 * configuration table, .env.example). Read from the environment only when NODE_ENV=test; under any other
 * NODE_ENV they keep their defaults, and one set to anything else stops the start-up, so that a test knob
 * left in a deployment's environment is noticed rather than obeyed or silently dropped.
 */
export class TestHooks {
  // After publishing this many events, the NATS relay kills its own process with SIGKILL between the
  // PubAcks and the cursor update (test/faults/events-nats.spec.ts). 0: off.
  @IntSetting(0, 1000000000)
  NATS_RELAY_TEST_KILL_AFTER = 0;

  // Multiplies the webhook retry schedule (5 s, 30 s, 2 min, 10 min, 1 h, then every 3 h to past 24 h):
  // test/faults/webhooks.spec.ts shrinks it to 0.01.
  @Matches(/^(0|[1-9]\d{0,3})(\.\d{1,6})?$/, { message: 'WEBHOOK_RETRY_SCALE must be a decimal number' })
  WEBHOOK_RETRY_SCALE = '1';
}

export function loadTestHooks(env: Record<string, string | undefined>, nodeEnv: string): TestHooks {
  const hooks = validateSettings(TestHooks, env);
  if (nodeEnv === 'test') return hooks;
  const defaults = new TestHooks();
  const set = (Object.keys(defaults) as Array<keyof TestHooks>).filter((k) => hooks[k] !== defaults[k]);
  if (set.length > 0) {
    throw new ConfigError(
      set
        .map((k) => `Invalid configuration: ${k} is a fault-test hook, read only when NODE_ENV=test`)
        .join('\n'),
    );
  }
  return defaults;
}
