import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { tempDir } from '@blackstart/tests';
import type { InjectOptions } from 'fastify';
import { parseConfig } from '../src/config.ts';
import { type Controller, startController } from '../src/controller.ts';
import { createLogger } from '../src/logger.ts';
import { buildUi } from '../ui/build.ts';

const log = createLogger({ level: 'silent' });

describe('the web UI served by the controller', () => {
  let controller: Controller;
  let dir: { path: string; remove(): void };
  const inject = (options: InjectOptions) => controller.app.inject(options);

  before(async () => {
    dir = tempDir();
    controller = await startController(
      parseConfig(
        {
          server: { host: '127.0.0.1', port: 0 },
          dataDir: dir.path,
          sources: [{ id: 'ups', type: 'simulator', interval: 60 }],
          plan: { ups: [{ id: 'ups' }], hosts: [] },
        },
        {},
      ),
      log,
      { listen: false },
    );
  });
  after(async () => {
    await controller.close();
    dir.remove();
  });

  const page = () => inject({ method: 'GET', url: '/', headers: { accept: 'text/html' } });

  test('/ is the app: HTML with a strict CSP, loading a hashed script and stylesheet', async () => {
    const r = await page();
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    const csp = String(r.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.match(r.body, /<script type="module" src="\/ui\/app-[A-Z0-9]{8}\.js"><\/script>/);
    assert.match(r.body, /<link rel="stylesheet" href="\/ui\/styles-[A-Z0-9]{8}\.css"/);
    assert.doesNotMatch(
      r.body,
      /<script>|\son[a-z]+=/,
      'no inline script or handler (the CSP would block it)',
    );
  });

  test('assets: right content type, cached forever, precompressed for gzip and brotli', async () => {
    const html = (await page()).body;
    const script = /src="(\/ui\/[^"]+\.js)"/.exec(html)![1]!;
    const style = /href="(\/ui\/[^"]+\.css)"/.exec(html)![1]!;

    const js = await inject({ method: 'GET', url: script });
    assert.equal(js.statusCode, 200);
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(js.headers['content-encoding'], undefined);
    assert.match(js.body, /\/api\/v1\/live/, 'the bundle is the app (it opens the live feed)');

    const gz = await inject({ method: 'GET', url: script, headers: { 'accept-encoding': 'gzip, deflate' } });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gz.headers.vary, 'accept-encoding');
    assert.equal(gunzipSync(gz.rawPayload).toString(), js.body);

    const br = await inject({ method: 'GET', url: script, headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.ok(br.rawPayload.length < js.rawPayload.length);

    const css = await inject({ method: 'GET', url: style });
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    assert.match(css.body, /prefers-color-scheme:\s*dark/);

    const missing = await inject({ method: 'GET', url: '/ui/app-AAAAAAAA.js' });
    assert.equal(missing.statusCode, 404);
    assert.match(String(missing.headers['content-type']), /application\/json/);
  });

  test('deep links that want HTML get the app; nothing else does', async () => {
    const deep = await inject({
      method: 'GET',
      url: '/outages/outage-1?x=1',
      headers: { accept: 'text/html,*/*' },
    });
    assert.equal(deep.statusCode, 200);
    assert.match(deep.body, /<div id="app">/);
    const json = await inject({
      method: 'GET',
      url: '/outages/outage-1',
      headers: { accept: 'application/json' },
    });
    assert.equal(json.statusCode, 404);
  });

  test('the API, the WebSockets and the agent install are never shadowed', async () => {
    const html = { accept: 'text/html' };
    const api = await inject({ method: 'GET', url: '/api/v1/outages', headers: html });
    assert.equal(api.statusCode, 401, 'the API still wants a login, even from a browser');
    const unknownApi = await inject({ method: 'GET', url: '/api/v1/no-such-thing', headers: html });
    assert.ok([401, 404].includes(unknownApi.statusCode));
    assert.doesNotMatch(unknownApi.body, /<html/);
    const health = await inject({ method: 'GET', url: '/api/v1/health', headers: html });
    assert.equal(health.statusCode, 200);
    assert.equal(health.json().status === 'ok' || health.json().status === 'degraded', true);
    for (const url of ['/ws/agent', '/ws/other', '/install.sh', '/agent/blackstart-agent.tar.gz']) {
      const r = await inject({ method: 'GET', url, headers: html });
      assert.doesNotMatch(r.body, /<div id="app">/, `${url} must not be the app`);
    }
  });
});

describe('buildUi', () => {
  test('writes every asset with its precompressed siblings and reports the first-load size', async () => {
    const out = tempDir();
    try {
      const target = join(out.path, 'ui');
      mkdirSync(target);
      writeFileSync(join(target, 'stale.js'), 'old');
      const result = await buildUi({ minify: true, write: target });
      const files = readdirSync(target).sort();
      assert.ok(!files.includes('stale.js'), 'a rebuild replaces what was there');
      assert.ok(files.includes('index.html'));
      assert.ok(files.some((f) => /^app-[A-Z0-9]{8}\.js$/.test(f)));
      assert.ok(files.some((f) => /^app-[A-Z0-9]{8}\.js\.br$/.test(f)));
      assert.ok(files.some((f) => /^styles-[A-Z0-9]{8}\.css\.gz$/.test(f)));
      assert.ok(
        result.firstLoad.jsGzipBytes > 1000 && result.firstLoad.jsGzipBytes < result.firstLoad.jsBytes,
      );
    } finally {
      out.remove();
    }
  });
});
