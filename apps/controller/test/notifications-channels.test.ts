// Each channel's payload, checked against local receivers: an HTTP server for the webhook services
// and a real SMTP server for e-mail.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { freePort } from '@blackstart/tests';
import Value from 'typebox/value';
import { wecomUrl } from '../src/notifications/channels/wecom.ts';
import {
  type ChannelConfig,
  ChannelSchema,
  createChannel,
  type Notification,
  testChannel,
} from '../src/notifications/index.ts';
import { HttpReceiver, SmtpSink } from './notifications-receivers.ts';

const critical: Notification = {
  id: 'host-no-ack.outage-abc.db',
  kind: 'host-no-ack',
  severity: 'critical',
  site: 'Home lab',
  title: 'No shutdown acknowledgement from db',
  text: 'db did not acknowledge its shutdown before the deadline.\nCheck <db> & friends.',
  at: Date.UTC(2026, 4, 1, 12, 0, 0),
  outage: 'outage-abc',
  hosts: ['db'],
  link: 'http://controller.lan:7393/outages/outage-abc',
  facts: [
    { label: 'Charge', value: '62 %' },
    { label: 'Runtime', value: '7 min 30 s' },
  ],
};
const info: Notification = {
  id: 'host-up.outage-abc.nas',
  kind: 'host-up',
  severity: 'info',
  site: 'Blackstart',
  title: 'nas is back',
  text: 'nas came back up.',
  at: Date.UTC(2026, 4, 1, 12, 30, 0),
};

/** A channel config with its defaults filled, as the controller's config loader produces it. */
function channel(config: Record<string, unknown>): ChannelConfig {
  const value = Value.Default(
    ChannelSchema.anyOf.find((s) => s.properties.type.const === config.type)!,
    config,
  );
  assert.ok(Value.Check(ChannelSchema, value), `valid channel config ${JSON.stringify(value)}`);
  return value as ChannelConfig;
}

async function send(config: Record<string, unknown>, n: Notification, timeoutMs = 5000): Promise<void> {
  const c = createChannel(channel(config), { timeoutMs });
  try {
    await c.send(n);
  } finally {
    c.close();
  }
}

describe('notification channels against a local HTTP receiver', () => {
  let receiver: HttpReceiver;
  before(async () => {
    receiver = await HttpReceiver.start();
  });
  after(() => receiver.close());
  const last = () => receiver.requests.at(-1)!;

  test('webhook: the documented JSON, its headers and an HMAC signature of the exact body', async () => {
    await send(
      {
        id: 'hook',
        type: 'webhook',
        url: receiver.url('/hook'),
        secret: 's3cret',
        headers: { 'x-team': 'ops' },
      },
      critical,
    );
    const r = last();
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/hook');
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(r.headers['x-team'], 'ops');
    assert.equal(r.headers['x-blackstart-event'], 'host-no-ack');
    assert.equal(r.headers['x-blackstart-delivery'], critical.id);
    const expected = `sha256=${createHmac('sha256', 's3cret').update(r.body).digest('hex')}`;
    assert.equal(r.headers['x-blackstart-signature'], expected);
    assert.deepEqual(r.json, {
      version: 1,
      id: critical.id,
      event: 'host-no-ack',
      severity: 'critical',
      site: 'Home lab',
      title: critical.title,
      text: critical.text,
      at: '2026-05-01T12:00:00.000Z',
      outage: 'outage-abc',
      ups: [],
      hosts: ['db'],
      link: critical.link,
      facts: critical.facts,
    });
  });

  test('ntfy: JSON publish to the server root with topic, priority, tags, click and a view action', async () => {
    await send(
      { id: 'phone', type: 'ntfy', url: receiver.url('/'), topic: 'ups-alerts', token: 'tk_abc' },
      critical,
    );
    const r = last();
    assert.equal(r.path, '/');
    assert.equal(r.headers.authorization, 'Bearer tk_abc');
    assert.deepEqual(r.json, {
      topic: 'ups-alerts',
      title: '[Home lab] No shutdown acknowledgement from db',
      message: critical.text,
      priority: 5,
      tags: ['rotating_light', 'host-no-ack'],
      click: critical.link,
      actions: [{ action: 'view', label: 'Timeline', url: critical.link, clear: false }],
    });
    await send(
      { id: 'phone', type: 'ntfy', url: receiver.url('/'), topic: 'ups-alerts', user: 'me', password: 'pw' },
      info,
    );
    const r2 = last();
    assert.equal(r2.headers.authorization, `Basic ${Buffer.from('me:pw').toString('base64')}`);
    const body = r2.json as Record<string, unknown>;
    assert.equal(body.priority, 3);
    assert.deepEqual(body.tags, ['white_check_mark', 'host-up']);
    assert.equal(body.click, undefined, 'no link, no click');
  });

  test('Discord: one embed coloured by severity, linked to the timeline, mentions disabled', async () => {
    await send({ id: 'chat', type: 'discord', url: receiver.url('/api/webhooks/1/tok') }, critical);
    const body = last().json as {
      username: string;
      embeds: Array<Record<string, unknown>>;
      allowed_mentions: unknown;
    };
    assert.equal(last().path, '/api/webhooks/1/tok');
    assert.equal(body.username, 'Blackstart');
    assert.deepEqual(body.allowed_mentions, { parse: [] });
    assert.equal(body.embeds.length, 1);
    assert.deepEqual(body.embeds[0], {
      title: critical.title,
      description: critical.text,
      color: 0xd92d20,
      timestamp: '2026-05-01T12:00:00.000Z',
      url: critical.link,
      fields: [
        { name: 'Charge', value: '62 %', inline: true },
        { name: 'Runtime', value: '7 min 30 s', inline: true },
      ],
      footer: { text: 'Home lab' },
    });
    // Discord's limits hold for long texts.
    await send(
      { id: 'chat', type: 'discord', url: receiver.url('/d') },
      { ...info, text: 'x'.repeat(10_000) },
    );
    const long = (last().json as { embeds: Array<{ description: string }> }).embeds[0]!;
    assert.equal(long.description.length, 4096);
    assert.ok(long.description.endsWith('…'));
  });

  test('Slack: notification text and a coloured attachment of Block Kit blocks, mrkdwn escaped', async () => {
    await send({ id: 'team', type: 'slack', url: receiver.url('/services/T/B/X') }, critical);
    const body = last().json as {
      text: string;
      attachments: Array<{ color: string; fallback: string; blocks: Array<Record<string, unknown>> }>;
    };
    assert.equal(body.text, '[Home lab] No shutdown acknowledgement from db');
    const [attachment] = body.attachments;
    assert.equal(attachment?.color, '#d92d20');
    assert.deepEqual(
      attachment?.blocks.map((b) => b.type),
      ['header', 'section', 'section', 'actions', 'context'],
    );
    const section = attachment!.blocks[1] as { text: { type: string; text: string } };
    assert.equal(section.text.type, 'mrkdwn');
    assert.match(section.text.text, /Check &lt;db&gt; &amp; friends\./);
    const fields = (attachment!.blocks[2] as { fields: Array<{ text: string }> }).fields;
    assert.deepEqual(
      fields.map((f) => f.text),
      ['*Charge*\n62 %', '*Runtime*\n7 min 30 s'],
    );
    const button = (attachment!.blocks[3] as { elements: Array<{ url: string }> }).elements[0];
    assert.equal(button?.url, critical.link);
  });

  test('WeChat Work: markdown msgtype with a coloured title, the link and user mentions, within 4096 bytes', async () => {
    await send(
      {
        id: 'wx',
        type: 'wecom',
        url: receiver.url('/cgi-bin/webhook/send?key=K1'),
        mentionedList: ['zhangsan'],
      },
      { ...critical, text: `${'断电告警'.repeat(600)}` },
    );
    const r = last();
    assert.equal(r.path, '/cgi-bin/webhook/send?key=K1');
    const body = r.json as { msgtype: string; markdown: { content: string } };
    assert.deepEqual(Object.keys(body).sort(), ['markdown', 'msgtype']);
    assert.equal(body.msgtype, 'markdown');
    const content = body.markdown.content;
    assert.ok(Buffer.byteLength(content) <= 4096, `${Buffer.byteLength(content)} bytes`);
    assert.match(
      content,
      /^### <font color="warning">\[Home lab\] No shutdown acknowledgement from db<\/font>/,
    );
    assert.ok(content.includes(`[Open timeline](${critical.link})`), 'the link survives the cut');
    assert.ok(content.includes('<@zhangsan>'), 'mentions on a critical event');
  });

  test('WeChat Work: text msgtype with mentions, within 2048 bytes; errcode ≠ 0 is a failure', async () => {
    const config = {
      id: 'wx',
      type: 'wecom',
      url: receiver.url('/wx-text'),
      format: 'text',
      mentionedList: ['@all'],
      mentionedMobileList: ['13800001111'],
    };
    await send(config, { ...critical, text: 'x'.repeat(5000) });
    const body = last().json as {
      msgtype: string;
      text: { content: string; mentioned_list: string[]; mentioned_mobile_list: string[] };
    };
    assert.equal(body.msgtype, 'text');
    assert.ok(Buffer.byteLength(body.text.content) <= 2048);
    assert.ok(body.text.content.startsWith('[Home lab] No shutdown acknowledgement from db\n'));
    assert.deepEqual(body.text.mentioned_list, ['@all']);
    assert.deepEqual(body.text.mentioned_mobile_list, ['13800001111']);
    await send(config, info);
    assert.equal(
      (last().json as { text: Record<string, unknown> }).text.mentioned_list,
      undefined,
      'no mentions for info',
    );

    receiver.respond = () => ({ status: 200, body: '{"errcode":93000,"errmsg":"invalid webhook url"}' });
    try {
      await assert.rejects(send(config, info), /wecom errcode 93000: invalid webhook url/);
    } finally {
      receiver.respond = () => undefined;
    }
    assert.equal(
      wecomUrl({ key: 'a b' }),
      'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a%20b',
      'a key alone makes the official URL',
    );
  });

  test('HTTP failures name the service and status but never the (secret) URL; a hung server times out', async () => {
    receiver.respond = () => ({ status: 500, body: 'internal error' });
    try {
      await assert.rejects(
        send({ id: 's', type: 'slack', url: receiver.url('/services/SECRET') }, info),
        (error: Error) => {
          assert.equal(error.message, 'slack answered HTTP 500: internal error');
          return true;
        },
      );
      receiver.respond = () => ({ status: 404, body: 'no_service' });
      await assert.rejects(send({ id: 's', type: 'slack', url: receiver.url('/services/SECRET') }, info), {
        permanent: true,
      });
      receiver.respond = () => ({ status: 200, hang: true });
      await assert.rejects(send({ id: 'd', type: 'discord', url: receiver.url('/SECRET') }, info, 200), {
        message: 'discord: no answer within 0.2 s',
      });
    } finally {
      receiver.respond = () => undefined;
    }
  });

  test('a test send reports success or the reason it failed', async () => {
    const ok = await testChannel(channel({ id: 'hook', type: 'webhook', url: receiver.url('/t') }), {
      site: 'Lab',
    });
    assert.equal(ok.ok, true);
    const body = last().json as Record<string, unknown>;
    assert.equal(body.event, 'test');
    assert.equal(body.title, 'Test notification');
    assert.equal(body.site, 'Lab');
    const port = await freePort();
    const closed = await testChannel(
      channel({ id: 'hook', type: 'webhook', url: `http://127.0.0.1:${port}/` }),
    );
    assert.equal(closed.ok, false);
    assert.match(closed.ok ? '' : closed.error, /^webhook: request failed \(ECONNREFUSED\)/);
  });
});

describe('e-mail channel against a local SMTP server', () => {
  let sink: SmtpSink;
  before(async () => {
    sink = await SmtpSink.start({ user: 'blackstart', password: 'mail-pass' });
  });
  after(() => sink.close());

  const mail = (extra: Record<string, unknown> = {}) => ({
    id: 'mail',
    type: 'email',
    host: '127.0.0.1',
    port: sink.port,
    security: 'none',
    user: 'blackstart',
    password: 'mail-pass',
    from: 'Blackstart <ups@lab.example>',
    to: ['ops@lab.example', 'me@lab.example'],
    ...extra,
  });

  test('sends subject, plain text and HTML with the timeline link, logged in, to every recipient', async () => {
    await send(mail(), critical);
    const m = sink.messages.at(-1)!;
    assert.equal(m.user, 'blackstart');
    assert.equal(m.from, 'ups@lab.example');
    assert.deepEqual(m.to, ['ops@lab.example', 'me@lab.example']);
    assert.equal(m.subject, '[Home lab] No shutdown acknowledgement from db');
    assert.equal(m.headers.get('x-blackstart-event'), 'host-no-ack');
    assert.equal(m.headers.get('x-priority'), '1 (Highest)');
    assert.match(m.headers.get('message-id') ?? '', /^<[0-9a-f]{32}@blackstart\.invalid>$/);
    const text = m.parts.get('text/plain') ?? '';
    assert.ok(text.includes('db did not acknowledge its shutdown before the deadline.'), text);
    assert.ok(text.includes(`Timeline: ${critical.link}`), text);
    assert.ok(text.includes('Charge: 62 %'), text);
    const html = m.parts.get('text/html') ?? '';
    assert.ok(html.includes(`<a href="${critical.link}">`), html);
    assert.ok(html.includes('Check &lt;db&gt; &amp; friends.'), 'HTML is escaped');

    // The same notification again carries the same Message-ID (mail clients fold repeats).
    await send(mail(), critical);
    assert.equal(sink.messages.at(-1)!.headers.get('message-id'), m.headers.get('message-id'));
  });

  test('refuses to send in the clear when STARTTLS is required but not offered; a bad login fails for good', async () => {
    const before = sink.messages.length;
    await assert.rejects(send(mail({ security: 'starttls' }), info), { message: /^smtp: .*STARTTLS/ });
    await assert.rejects(send(mail({ password: 'wrong' }), info), { permanent: true });
    assert.equal(sink.messages.length, before, 'nothing was delivered');
  });
});
