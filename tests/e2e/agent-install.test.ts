// The one-command install, end to end: a real controller (HTTPS, self-signed certificate) serves
// install.sh and the agent artifact built by deploy/agent/build.mjs; `blackstart agent
// install-command` prints the one-liner; the one-liner (real curl, pinned public key) installs into
// a temporary root, enrolls over the pinned TLS certificate, and the installed agent connects over
// WSS. Files, owners, modes and units are checked, the units go through systemd-analyze verify and
// security, the script through shellcheck; upgrade, unit updates and --uninstall are exercised.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  freePort,
  isolatedEnv,
  needs,
  requireTool,
  type Spawned,
  spawnTracked,
  tempDir,
  waitFor,
} from '@blackstart/tests';

const root = resolve(import.meta.dirname, '..', '..');
const cli = join(root, 'apps/controller/bin/blackstart.mjs');
const runFile = promisify(execFile);
const ADMIN_PASSWORD = 'install-test-password';
const UNITS = [
  'blackstart-agent.service',
  'blackstart-agent-poweroff.path',
  'blackstart-agent-poweroff.service',
];

/** Runs a shell command line; resolves with its exit code and output (never rejects). */
function shell(line: string, env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn('/bin/sh', ['-c', line], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

const mode = (path: string) => (statSync(path).mode & 0o7777).toString(8);
const owner = (path: string) => `${statSync(path).uid}:${statSync(path).gid}`;

describe(
  'agent install: one-liner from a real controller into a temporary root',
  needs(
    'curl',
    'openssl',
    'shellcheck',
    'systemd-analyze',
    'systemctl',
    'useradd',
    'setpriv',
    'nologin',
    'dpkg-deb',
  ),
  () => {
    const work = tempDir('blackstart-install-');
    const artifacts = join(work.path, 'artifacts');
    const dataDir = join(work.path, 'controller');
    const configFile = join(work.path, 'blackstart.yaml');
    const target = join(work.path, 'root');
    let controller: Spawned;
    let port: number;
    let oneLiner: string;
    let agentUid: number;
    const childEnv = isolatedEnv({ BLACKSTART_ADMIN_PASSWORD: ADMIN_PASSWORD, LOG_LEVEL: 'warn' });

    before(async () => {
      // The artifact, built exactly as a release is, with this machine's Node.js as its runtime.
      execFileSync(
        process.execPath,
        [join(root, 'deploy/agent/build.mjs'), '--runtime', 'local', '--fast', '--out', artifacts],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      port = await freePort();
      writeFileSync(
        configFile,
        `${JSON.stringify(
          {
            server: { host: '127.0.0.1', port, tls: { mode: 'self-signed' } },
            dataDir,
            sources: [
              { id: 'ups', type: 'simulator', interval: 2, load: 35, runtimeAtLoad: 900, returnDelay: 2 },
            ],
            plan: {
              ups: [{ id: 'ups', name: 'UPS', powerOff: { delay: 5, offFor: 2 } }],
              hosts: [
                {
                  id: 'web1',
                  name: 'Web',
                  kind: 'agent',
                  shutdown: { triggers: [{ type: 'on-battery', after: 600 }], timeout: 60 },
                },
              ],
            },
          },
          null,
          2,
        )}\n`,
      );
      controller = spawnTracked('controller', process.execPath, [cli, 'serve', '--config', configFile], {
        env: { ...childEnv, BLACKSTART_AGENT_ARTIFACTS: artifacts },
        logFile: join(work.path, 'controller.log'),
      });
      await waitFor(
        async () => (await shell(`curl -skf https://127.0.0.1:${port}/api/v1/health`)).code === 0,
        { timeoutMs: 60_000, what: 'the controller to serve HTTPS' },
      );
      // The target root: an empty system with only root in its account files.
      for (const d of ['etc', 'usr/sbin', 'usr/lib/systemd', 'bin'])
        mkdirSync(join(target, d), { recursive: true });
      writeFileSync(join(target, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
      writeFileSync(join(target, 'etc/group'), 'root:x:0:\ndocker:x:998:\n');
      writeFileSync(join(target, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o600 });
      writeFileSync(join(target, 'etc/gshadow'), 'root:*::\ndocker:!::\n', { mode: 0o600 });
      copyFileSync(requireTool('nologin'), join(target, 'usr/sbin/nologin'));
      // The agent user must be able to reach its state directory inside the root.
      chmodSync(work.path, 0o755);
      chmodSync(target, 0o755);
    });

    after(async () => {
      await controller?.kill();
      work.remove();
    });

    test('`blackstart agent install-command` prints a one-liner that pins the self-signed controller', async () => {
      const { stdout, stderr } = await runFile(
        process.execPath,
        [cli, 'agent', 'install-command', '--config', configFile, '--host', 'web1', '--ttl', '600'],
        { env: childEnv, timeout: 60_000 },
      );
      oneLiner = stdout.trim();
      const fingerprint = execFileSync('openssl', [
        'x509',
        '-noout',
        '-fingerprint',
        '-sha256',
        '-in',
        join(dataDir, 'tls-cert.pem'),
      ])
        .toString()
        .split('=')[1]!
        .trim()
        .replace(/:/g, '')
        .toLowerCase();
      assert.match(
        oneLiner,
        new RegExp(
          `^curl -fsSL -k --pinnedpubkey 'sha256//[A-Za-z0-9+/]{43}=' https://127\\.0\\.0\\.1:${port}/install\\.sh \\| sudo sh -s -- --token bst_[A-Za-z0-9_-]+ --pin sha256:${fingerprint} --host web1$`,
        ),
      );
      assert.match(stderr, /The token works once, until /);
    });

    test('the served script is rendered for this controller and passes shellcheck, as does the template', async () => {
      const curlPart = oneLiner.split(' | ')[0]!.replace('curl -fsSL', 'curl -fsS');
      const rendered = join(work.path, 'install.sh');
      const r = await shell(`${curlPart} -o ${rendered}`);
      assert.equal(r.code, 0, r.stderr);
      const script = readFileSync(rendered, 'utf8');
      assert.match(script, new RegExp(`^CONTROLLER_URL='https://127\\.0\\.0\\.1:${port}'$`, 'm'));
      const sums = readFileSync(join(artifacts, 'SHA256SUMS'), 'utf8');
      const x64 = /^([0-9a-f]{64}) {2}blackstart-agent-[\d.]+-linux-x64\.tar\.gz$/m.exec(sums)![1];
      assert.match(script, new RegExp(`^SHA256_X64='${x64}'$`, 'm'));
      assert.match(script, /^main "\$@"$/m, 'everything runs from one call on the last line');
      for (const file of [rendered, join(root, 'deploy/agent/install.sh')]) {
        const check = await shell(`shellcheck -s sh ${file}`);
        assert.equal(check.code, 0, `${file}\n${check.stdout}`);
      }
      // Without the pin curl refuses the self-signed certificate.
      assert.notEqual((await shell(`curl -fsS https://127.0.0.1:${port}/install.sh -o /dev/null`)).code, 0);
    });

    test('the one-liner installs, enrolls over the pinned certificate, and the installed agent connects', async () => {
      const line = `${oneLiner.replace('| sudo sh -s --', '| sh -s --')} --root ${target} --with-docker`;
      const r = await shell(line);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      for (const expected of [
        /checksum verified \([0-9a-f]{64}\)/,
        /created system user blackstart-agent/,
        /added blackstart-agent to the docker group/,
        /enrolling with https:\/\/127\.0\.0\.1:\d+/,
        /wrote \/etc\/blackstart-agent\/agent\.env \(mode 0600\) for host 'web1'/,
        /installed \/etc\/systemd\/system\/blackstart-agent\.service/,
        /enabled blackstart-agent\.service blackstart-agent-poweroff\.path in /,
      ])
        assert.match(r.stdout, expected);

      const passwd = readFileSync(join(target, 'etc/passwd'), 'utf8');
      const entry =
        /^blackstart-agent:x:(\d+):(\d+):[^:]*:\/var\/lib\/blackstart-agent:\/usr\/sbin\/nologin$/m.exec(
          passwd,
        );
      assert.ok(entry, passwd);
      agentUid = Number(entry[1]);
      const agentGid = Number(entry[2]);
      assert.ok(agentUid > 0 && agentUid < 1000, 'a system user');
      assert.match(readFileSync(join(target, 'etc/group'), 'utf8'), /^docker:x:998:blackstart-agent$/m);

      const opt = join(target, 'opt/blackstart-agent');
      assert.equal(mode(join(opt, 'runtime/node')), '755');
      assert.equal(owner(join(opt, 'runtime/node')), '0:0');
      assert.equal(owner(join(opt, 'lib/blackstart-agent.mjs')), '0:0');
      assert.equal(
        readlinkSync(join(target, 'usr/local/bin/blackstart-agent')),
        '/opt/blackstart-agent/bin/blackstart-agent',
      );

      const conf = join(target, 'etc/blackstart-agent/agent.env');
      assert.equal(mode(conf), '600');
      assert.equal(owner(conf), '0:0');
      const config = readFileSync(conf, 'utf8');
      assert.match(config, new RegExp(`^BLACKSTART_CONTROLLER='https://127\\.0\\.0\\.1:${port}'$`, 'm'));
      assert.match(config, /^BLACKSTART_HOST='web1'$/m);
      assert.match(config, /^BLACKSTART_PIN='sha256:[0-9a-f]{64}'$/m);
      assert.match(config, /^BLACKSTART_POWER_ACTION='systemd-path'$/m);
      assert.doesNotMatch(config, /bst_/, 'the single-use token is never written down');

      const state = join(target, 'var/lib/blackstart-agent');
      assert.equal(mode(state), '700');
      assert.equal(owner(state), `${agentUid}:${agentGid}`);
      for (const file of ['agent-key.json', 'controller-key.json', 'controller-cert.pem']) {
        assert.equal(owner(join(state, file)), `${agentUid}:${agentGid}`, file);
        assert.equal(mode(join(state, file)), '600', file);
      }

      for (const unit of UNITS) {
        const path = join(target, 'etc/systemd/system', unit);
        assert.equal(mode(path), '644');
        assert.equal(readFileSync(path, 'utf8'), readFileSync(join(root, 'deploy/agent', unit), 'utf8'));
      }
      assert.ok(
        lstatSync(
          join(target, 'etc/systemd/system/multi-user.target.wants/blackstart-agent.service'),
        ).isSymbolicLink(),
      );
      assert.ok(
        lstatSync(
          join(target, 'etc/systemd/system/paths.target.wants/blackstart-agent-poweroff.path'),
        ).isSymbolicLink(),
      );

      // The installed agent, as its unit runs it: unprivileged, config from agent.env, over WSS with the pinned certificate.
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        BLACKSTART_STATE_DIR: state,
        LOG_LEVEL: 'warn',
      };
      for (const m of config.matchAll(/^(\w+)='([^']*)'$/gm)) env[m[1]!] = m[2]!;
      env.BLACKSTART_POWER_ACTION = 'dry-run';
      const agent = spawnTracked(
        'agent',
        requireTool('setpriv'),
        [
          `--reuid=${agentUid}`,
          `--regid=${agentGid}`,
          '--clear-groups',
          join(opt, 'bin/blackstart-agent'),
          'run',
        ],
        { env, cwd: '/', logFile: join(work.path, 'agent.log') },
      );
      try {
        await waitFor(
          async () => {
            const health = await shell(`curl -skf https://127.0.0.1:${port}/api/v1/health`);
            return (
              JSON.parse(health.stdout || '{}') as { agents?: { connected?: string[] } }
            ).agents?.connected?.includes('web1');
          },
          { timeoutMs: 30_000, what: 'the installed agent to connect' },
        );
        const status = JSON.parse(readFileSync(join(state, 'status.json'), 'utf8'));
        assert.equal(status.connected, true);
      } finally {
        await agent.kill();
      }
    });

    test('the installed units pass systemd-analyze verify; security exposure is reported', async (t) => {
      // verify resolves the targets and executables the units name inside the root.
      cpSync('/usr/lib/systemd/system', join(target, 'usr/lib/systemd/system'), { recursive: true });
      for (const tool of ['cat', 'systemctl']) copyFileSync(requireTool(tool), join(target, 'bin', tool));
      const verify = await shell(`systemd-analyze verify --root=${target} ${UNITS.join(' ')}`);
      assert.equal(verify.code, 0, verify.stderr);
      assert.equal(verify.stderr.trim(), '', 'no warnings');
      for (const unit of ['blackstart-agent.service', 'blackstart-agent-poweroff.service']) {
        const security = await shell(
          `systemd-analyze security --offline=yes --no-pager --root=${target} ${unit}`,
        );
        const score = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(security.stdout);
        assert.ok(score, security.stdout + security.stderr);
        t.diagnostic(`${unit}: exposure ${score[1]} ${score[2]}`);
        assert.ok(Number(score[1]) <= 2.0, `${unit} exposure ${score[1]}`);
      }
    });

    test('re-running upgrades in place: config kept, unchanged units left alone, a changed unit updated', async () => {
      const installer = join(target, 'opt/blackstart-agent/share/install.sh');
      const rendered = join(work.path, 'install.sh');
      const artifact = join(artifacts, readdirSync(artifacts).find((f) => f.endsWith('.tar.gz'))!);
      const before = readFileSync(join(target, 'etc/blackstart-agent/agent.env'), 'utf8');
      const again = await shell(`sh ${rendered} --root ${target}`);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /keeping the configuration in \/etc\/blackstart-agent\/agent\.env/);
      for (const unit of UNITS)
        assert.match(again.stdout, new RegExp(`unchanged /etc/systemd/system/${unit.replace(/\./g, '\\.')}`));
      assert.equal(readFileSync(join(target, 'etc/blackstart-agent/agent.env'), 'utf8'), before);

      const unitPath = join(target, 'etc/systemd/system/blackstart-agent.service');
      writeFileSync(unitPath, `${readFileSync(unitPath, 'utf8')}# edited by hand\n`);
      const update = await shell(
        `sh ${installer} --root ${target} --controller https://127.0.0.1:${port} --artifact ${artifact}`,
      );
      assert.equal(update.code, 0, update.stderr);
      assert.match(update.stdout, /updated \/etc\/systemd\/system\/blackstart-agent\.service/);
      assert.match(update.stdout, /unchanged \/etc\/systemd\/system\/blackstart-agent-poweroff\.path/);
      assert.doesNotMatch(readFileSync(unitPath, 'utf8'), /edited by hand/);

      // A corrupted download is refused before anything is touched.
      const corrupt = join(work.path, 'corrupt.tar.gz');
      writeFileSync(corrupt, `${readFileSync(artifact).subarray(0, 1000)}`);
      const bad = await shell(`sh ${rendered} --root ${target} --artifact ${corrupt}`);
      assert.equal(bad.code, 1);
      assert.match(
        bad.stderr,
        /checksum mismatch for the agent artifact: expected [0-9a-f]{64}, got [0-9a-f]{64}/,
      );
    });

    test('--uninstall removes the agent and keeps config and state; --purge removes everything', async () => {
      const rendered = join(work.path, 'install.sh');
      const r = await shell(`sh ${rendered} --uninstall --root ${target}`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(existsSync(join(target, 'opt/blackstart-agent')), false);
      for (const unit of UNITS) assert.equal(existsSync(join(target, 'etc/systemd/system', unit)), false);
      assert.equal(
        existsSync(join(target, 'etc/systemd/system/multi-user.target.wants/blackstart-agent.service')),
        false,
      );
      assert.ok(existsSync(join(target, 'etc/blackstart-agent/agent.env')));
      assert.ok(existsSync(join(target, 'var/lib/blackstart-agent/agent-key.json')));
      const purge = await shell(`sh ${rendered} --uninstall --purge --root ${target}`);
      assert.equal(purge.code, 0, purge.stderr);
      assert.equal(existsSync(join(target, 'etc/blackstart-agent')), false);
      assert.equal(existsSync(join(target, 'var/lib/blackstart-agent')), false);
      assert.doesNotMatch(readFileSync(join(target, 'etc/passwd'), 'utf8'), /blackstart-agent/);
    });

    test('the .deb built with dpkg-deb carries the same tree, units and checked maintainer scripts', async () => {
      const deb = join(artifacts, readdirSync(artifacts).find((f) => f.endsWith('.deb'))!);
      const fields = execFileSync('dpkg-deb', ['-f', deb, 'Package', 'Architecture', 'Depends']).toString();
      assert.match(fields, /^Package: blackstart-agent$/m);
      assert.match(fields, /^Architecture: (amd64|arm64)$/m);
      const contents = execFileSync('dpkg-deb', ['-c', deb]).toString();
      for (const path of [
        './opt/blackstart-agent/runtime/node',
        './opt/blackstart-agent/lib/blackstart-agent.mjs',
        ...UNITS.map((u) => `./lib/systemd/system/${u}`),
        './usr/bin/blackstart-agent -> /opt/blackstart-agent/bin/blackstart-agent',
      ])
        assert.ok(contents.includes(path), path);
      assert.match(contents, /^-rwxr-xr-x root\/root .* \.\/opt\/blackstart-agent\/runtime\/node$/m);
      const control = join(work.path, 'control');
      execFileSync('dpkg-deb', ['-e', deb, control]);
      for (const script of ['postinst', 'prerm', 'postrm']) {
        const check = await shell(`shellcheck -s sh ${join(control, script)}`);
        assert.equal(check.code, 0, `${script}\n${check.stdout}`);
      }
    });
  },
);
