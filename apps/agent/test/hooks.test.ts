import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  DOCKER_API_LAB_TOOLS,
  DockerApiLab,
  LIBVIRT_LAB_TOOLS,
  LibvirtLab,
  needs,
  requireTool,
  tempDir,
} from '@blackstart/tests';
import { runHook } from '../src/hooks.ts';

const env = { BLACKSTART_OUTAGE: 'o-test', BLACKSTART_HOST: 'hv' };

describe(
  'libvirt-shutdown hook against a real libvirtd (test hypervisor)',
  needs(...LIBVIRT_LAB_TOOLS),
  () => {
    let lab: LibvirtLab;
    const dir = tempDir();
    before(async () => {
      lab = await LibvirtLab.start();
    });
    after(async () => {
      await lab?.stop();
      dir.remove();
    });

    test('shuts down the named running domains and leaves the others running', async () => {
      await lab.startDomain('web');
      await lab.startDomain('db');
      const result = await runHook(
        {
          type: 'libvirt-shutdown',
          domains: ['web', 'db', 'absent'],
          timeout: 20,
          destroyAfterTimeout: false,
        },
        { env, libvirtUri: lab.uri, dockerHost: 'unix:///nonexistent' },
      );
      assert.equal(result.ok, true, `${result.summary}\n${result.output}`);
      assert.match(result.summary, /^2 domain\(s\) shut down in [\d.]+ s$/);
      assert.match(result.output, /absent: not running/);
      assert.match(result.output, /web: shutdown requested/);
      assert.equal(await lab.state('web'), 'shut off');
      assert.equal(await lab.state('db'), 'shut off');
      assert.equal(await lab.state('test'), 'running', 'a domain not named is left alone');
      assert.ok(
        lab.events.some((e) => /web.*Stopped Shutdown/.test(e)),
        lab.events.join('\n'),
      );
    });

    test('without names every running domain is shut down; a guest that ignores the request is destroyed after the timeout', async () => {
      await lab.startDomain('stubborn');
      // A guest that ignores ACPI: the wrapper swallows `shutdown` for it, everything else is real virsh.
      const wrapper = join(dir.path, 'virsh');
      writeFileSync(
        wrapper,
        `#!/bin/sh\nfor a in "$@"; do last=$a; done\ncase " $* " in *" shutdown "*) [ "$last" = stubborn ] && exit 0 ;; esac\nexec ${requireTool('virsh')} "$@"\n`,
      );
      chmodSync(wrapper, 0o755);
      const stubborn = await runHook(
        { type: 'libvirt-shutdown', timeout: 1.5, destroyAfterTimeout: false },
        { env, libvirtUri: lab.uri, dockerHost: 'unix:///nonexistent', virsh: wrapper },
      );
      assert.equal(stubborn.ok, false);
      assert.equal(stubborn.summary, 'timed out after 1.5 s; still running: stubborn');
      assert.equal(await lab.state('test'), 'shut off', 'the cooperative domain went down');
      assert.equal(await lab.state('stubborn'), 'running');

      const destroyed = await runHook(
        { type: 'libvirt-shutdown', timeout: 1, destroyAfterTimeout: true },
        { env, libvirtUri: lab.uri, dockerHost: 'unix:///nonexistent', virsh: wrapper },
      );
      assert.equal(destroyed.ok, true, destroyed.summary);
      assert.equal(destroyed.summary, '0 shut down, 1 destroyed after 1 s');
      assert.match(destroyed.output, /stubborn: destroyed after the 1 s timeout/);
      assert.equal(await lab.state('stubborn'), 'shut off');
    });

    test('an unreachable libvirt is a failed hook with the reason, not a crash', async () => {
      const result = await runHook(
        { type: 'libvirt-shutdown', timeout: 5, destroyAfterTimeout: false },
        {
          env,
          libvirtUri: `test+unix:///default?socket=${dir.path}/none`,
          dockerHost: 'unix:///nonexistent',
        },
      );
      assert.equal(result.ok, false);
      assert.match(result.summary, /virsh list failed: .*Failed to connect socket/s);
    });
  },
);

describe(
  'docker-stop hook against a real Docker Engine API (Podman service)',
  needs(...DOCKER_API_LAB_TOOLS),
  () => {
    let lab: DockerApiLab;
    before(async () => {
      lab = await DockerApiLab.start();
    });
    after(async () => {
      await lab?.stop();
    });

    test('stops only the named Compose projects; a container ignoring SIGTERM is killed after the timeout', async () => {
      await lab.startContainer('web-app-1', 'trap "exit 0" TERM; while :; do sleep 0.2; done', 'web');
      await lab.startContainer('web-db-1', 'sleep 600', 'web');
      await lab.startContainer('other-1', 'trap "exit 0" TERM; while :; do sleep 0.2; done', 'other');
      await lab.startContainer('loose', 'trap "exit 0" TERM; while :; do sleep 0.2; done');
      assert.deepEqual(await lab.running(), ['loose', 'other-1', 'web-app-1', 'web-db-1']);
      const result = await runHook(
        { type: 'docker-stop', projects: ['web', 'nothing-here'], timeout: 2 },
        { env, libvirtUri: 'test:///default', dockerHost: lab.dockerHost },
      );
      assert.equal(result.ok, true, `${result.summary}\n${result.output}`);
      assert.match(result.summary, /^stopped 2 container\(s\) in [\d.]+ s$/);
      assert.match(result.output, /nothing-here: no running containers/);
      const db = /stopped web-db-1 in ([\d.]+) s/.exec(result.output);
      assert.ok(db, result.output);
      assert.ok(
        Number(db[1]) >= 1.9,
        `sleep as PID 1 ignores SIGTERM: killed after the 2 s timeout (${db[1]} s)`,
      );
      assert.deepEqual(await lab.running(), ['loose', 'other-1']);
    });

    test('without projects every running container is stopped', async () => {
      const result = await runHook(
        { type: 'docker-stop', timeout: 5 },
        { env, libvirtUri: 'test:///default', dockerHost: lab.dockerHost },
      );
      assert.equal(result.ok, true, `${result.summary}\n${result.output}`);
      assert.match(result.summary, /^stopped 2 container\(s\)/);
      assert.deepEqual(await lab.running(), []);
    });

    test('a missing Docker socket is a failed hook with the reason', async () => {
      const result = await runHook(
        { type: 'docker-stop', timeout: 5 },
        { env, libvirtUri: 'test:///default', dockerHost: 'unix:///nonexistent/docker.sock' },
      );
      assert.equal(result.ok, false);
      assert.match(result.summary, /^Docker API at unix:\/\/\/nonexistent\/docker.sock: .*ENOENT/);
    });
  },
);
