import { createHash } from 'node:crypto';
import { createTransport } from 'nodemailer';
import type { Static } from 'typebox';
import type { EmailChannelSchema, NotificationKind } from '../config.ts';
import { formatTime, type Notification } from '../notification.ts';
import { acceptsFrom, type Channel, type ChannelOptions, hexColour } from './channel.ts';
import { DeliveryError } from './http.ts';

type EmailConfig = Static<typeof EmailChannelSchema>;

const html = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** Subject, plain-text and HTML bodies of a notification e-mail. */
export function emailContent(n: Notification) {
  const subject = `[${n.site}] ${n.title}`;
  const text = [
    n.text,
    ...(n.facts && n.facts.length > 0 ? ['', ...n.facts.map((f) => `${f.label}: ${f.value}`)] : []),
    ...(n.link ? ['', `Timeline: ${n.link}`] : []),
    '',
    `-- ${n.site}, ${formatTime(n.at)}`,
  ].join('\n');
  const facts =
    n.facts && n.facts.length > 0
      ? `<table cellpadding="4">${n.facts
          .map((f) => `<tr><th align="left">${html(f.label)}</th><td>${html(f.value)}</td></tr>`)
          .join('')}</table>`
      : '';
  const body = [
    `<h2 style="color:${hexColour(n.severity)}">${html(n.title)}</h2>`,
    ...n.text.split('\n').map((line) => `<p>${html(line)}</p>`),
    facts,
    n.link ? `<p><a href="${html(n.link)}">Open the outage timeline</a></p>` : '',
    `<p style="color:#888">${html(n.site)}, ${html(formatTime(n.at))}</p>`,
  ].join('\n');
  return { subject, text, html: `<!doctype html><html><body>${body}</body></html>` };
}

/** E-mail over SMTP (nodemailer): one connection per message, so a dead relay is noticed at once. */
export class EmailChannel implements Channel {
  readonly type = 'email';
  readonly id: string;
  readonly accepts: (kind: NotificationKind) => boolean;
  private readonly transport;

  constructor(
    private readonly config: EmailConfig,
    options: ChannelOptions,
  ) {
    this.id = config.id;
    this.accepts = acceptsFrom(config);
    this.transport = createTransport({
      host: config.host,
      port: config.port,
      secure: config.security === 'tls',
      requireTLS: config.security === 'starttls',
      ignoreTLS: config.security === 'none',
      ...(config.user && { auth: { user: config.user, pass: config.password ?? '' } }),
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
    });
  }

  async send(n: Notification): Promise<void> {
    const content = emailContent(n);
    try {
      await this.transport.sendMail({
        from: this.config.from,
        to: this.config.to,
        ...content,
        priority: n.severity === 'critical' ? 'high' : 'normal',
        // The same notification always has the same Message-ID: mail clients show a repeat once.
        messageId: `<${createHash('sha256').update(n.id).digest('hex').slice(0, 32)}@blackstart.invalid>`,
        headers: { 'X-Blackstart-Event': n.kind },
      });
    } catch (error) {
      const e = error as Error & { code?: string; responseCode?: number };
      // 5xx replies and failed logins will not fix themselves; 4xx and network errors might.
      const permanent = e.code === 'EAUTH' || (e.responseCode !== undefined && e.responseCode >= 500);
      throw new DeliveryError(`smtp: ${e.message}`, permanent);
    }
  }

  close(): void {
    this.transport.close();
  }
}
