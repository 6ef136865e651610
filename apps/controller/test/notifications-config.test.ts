import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { tempDir } from '@blackstart/tests';
import { parse as parseYaml } from 'yaml';
import { ConfigError, parseConfig } from '../src/config.ts';

const base = {
  sources: [{ id: 'ups', type: 'simulator' }],
  plan: { ups: [{ id: 'ups' }], hosts: [{ id: 'nas', kind: 'agent' }] },
};

function errorsOf(notifications: unknown, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfig({ ...base, notifications }, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.errors;
    throw error;
  }
  return [];
}

describe('notifications configuration', () => {
  test('defaults: no channels, a 30 s quiet period, 8 tries from 5 s up to 5 min apart', () => {
    const { notifications } = parseConfig(base, {});
    assert.deepEqual(notifications, {
      name: 'Blackstart',
      quietPeriod: 30,
      timeout: 10,
      retry: { attempts: 8, backoff: 5, maxBackoff: 300 },
      channels: [],
    });
    const channel = parseConfig(
      {
        ...base,
        notifications: {
          channels: [{ id: 'mail', type: 'email', host: 'smtp.lan', from: 'ups@lan', to: ['me@lan'] }],
        },
      },
      {},
    ).notifications.channels[0];
    assert.deepEqual(channel, {
      id: 'mail',
      type: 'email',
      host: 'smtp.lan',
      port: 587,
      security: 'starttls',
      from: 'ups@lan',
      to: ['me@lan'],
    });
  });

  test('secrets come from BLACKSTART_NOTIFY_<CHANNEL>_<FIELD> or the file its _FILE names', () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, 'ntfy-token');
      writeFileSync(file, 'tk_from_file\n');
      const { notifications } = parseConfig(
        {
          ...base,
          notifications: {
            channels: [
              { id: 'team-chat', type: 'discord' },
              { id: 'phone', type: 'ntfy', topic: 'lab-ups' },
              { id: 'wx', type: 'wecom', key: 'in-the-file' },
            ],
          },
        },
        {
          BLACKSTART_NOTIFY_TEAM_CHAT_URL: 'https://discord.com/api/webhooks/1/abc',
          BLACKSTART_NOTIFY_PHONE_TOKEN_FILE: file,
          BLACKSTART_NOTIFY_WX_KEY: 'from-the-environment',
        },
      );
      const [discord, ntfy, wecom] = notifications.channels as Array<Record<string, unknown>>;
      assert.equal(discord?.url, 'https://discord.com/api/webhooks/1/abc');
      assert.equal(ntfy?.token, 'tk_from_file');
      assert.equal(ntfy?.url, 'https://ntfy.sh');
      assert.equal(wecom?.key, 'from-the-environment', 'the environment wins over the file');
    } finally {
      dir.remove();
    }
  });

  test('errors name the field', () => {
    assert.deepEqual(errorsOf({ channels: [{ id: 'ops', type: 'slack' }] }), [
      {
        path: '/notifications/channels/0/url',
        message: 'the webhook URL is required (in the file or as BLACKSTART_NOTIFY_OPS_URL[_FILE])',
      },
    ]);
    assert.deepEqual(
      errorsOf({
        channels: [{ id: 'ops', type: 'slack', url: 'https://x', events: ['on-battery', 'fire'] }],
      }),
      [
        {
          path: '/notifications/channels/0/events/1',
          message: `must be one of ${[
            'on-battery',
            'mains-returned',
            'low-battery',
            'runtime-short',
            'stage-started',
            'host-down',
            'host-no-ack',
            'ups-powered-off',
            'restore-started',
            'host-up',
            'host-wake-failed',
            'restore-done',
            'outage-summary',
            'agent-lost',
            'agent-back',
            'ups-comm-lost',
            'ups-comm-restored',
            'battery-replace',
          ]
            .map((k) => `"${k}"`)
            .join(', ')}`,
        },
      ],
    );
    assert.deepEqual(errorsOf({ channels: [{ id: 'pager', type: 'pagerduty' }] }), [
      {
        path: '/notifications/channels/0/type',
        message: 'unknown type "pagerduty" (expected one of webhook, ntfy, discord, slack, wecom, email)',
      },
    ]);
    assert.deepEqual(
      errorsOf({
        quietPeriod: 'short',
        channels: [{ id: 'm', type: 'email', host: 'h', from: 'a@b', to: [] }],
      }),
      [
        { path: '/notifications/quietPeriod', message: 'must be a number, not string' },
        { path: '/notifications/channels/0/to', message: 'must have at least 1 item' },
      ],
    );
    assert.deepEqual(errorsOf({ channels: [{ id: 'Phone!', type: 'ntfy', topic: 'has space' }] }), [
      {
        path: '/notifications/channels/0/id',
        message: 'must be lower-case letters, digits, - and _ (at most 63), starting with a letter or digit',
      },
      {
        path: '/notifications/channels/0/topic',
        message: 'must be an ntfy topic: letters, digits, - and _ (at most 64)',
      },
    ]);
  });

  test('cross-field rules: unique ids, credentials in pairs, mentions the format can carry, retry bounds', () => {
    assert.deepEqual(
      errorsOf({
        retry: { backoff: 60, maxBackoff: 10 },
        channels: [
          { id: 'a', type: 'ntfy', topic: 't', user: 'me' },
          { id: 'a', type: 'wecom', key: 'k', mentionedMobileList: ['13800001111'] },
          { id: 'b', type: 'ntfy', topic: 't', token: 'x', user: 'me', password: 'pw' },
        ],
      }),
      [
        { path: '/notifications/retry/maxBackoff', message: 'must be at least retry.backoff (60)' },
        {
          path: '/notifications/channels/0/password',
          message: 'the password is required (in the file or as BLACKSTART_NOTIFY_A_PASSWORD[_FILE])',
        },
        { path: '/notifications/channels/1/id', message: "duplicate channel id 'a'" },
        {
          path: '/notifications/channels/1/format',
          message:
            "must be 'text' to @-mention by mobile number or '@all' (markdown can mention user ids only)",
        },
        {
          path: '/notifications/channels/2/token',
          message: 'give either a token or a user and password, not both',
        },
      ],
    );
  });

  test('the example in docs/notifications.md is a valid configuration', () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../../docs/notifications.md'), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(yaml, 'the page has a YAML example');
    const { notifications } = parseConfig(
      { ...base, ...parseYaml(yaml) },
      {
        BLACKSTART_NOTIFY_TEAM_URL: 'https://hooks.slack.com/services/T/B/X',
        BLACKSTART_NOTIFY_MAIL_PASSWORD: 'secret',
      },
    );
    assert.deepEqual(notifications.channels.map((c) => c.type).sort(), [
      'discord',
      'email',
      'ntfy',
      'slack',
      'webhook',
      'wecom',
    ]);
  });
});
