import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  type Ack,
  type AgentMessage,
  HookSchema,
  lazyValidator,
  PROTOCOL_VERSION,
  publicKeyThumbprint,
} from '@blackstart/agent-protocol';
import type { CryptoKey, JWK } from 'jose';
import type { Logger } from 'pino';
import Type from 'typebox';
import Value from 'typebox/value';
import type { AgentConfig } from './config.ts';
import { ControllerConnection } from './connection.ts';
import { CommandExecutor } from './executor.ts';
import { bootId, hostFacts } from './facts.ts';
import { FailSafe } from './failsafe.ts';
import { createPowerAction, preciseNow } from './power.ts';
import { AgentState } from './state.ts';
import { fetchPinnedCertificate, pinnedTlsOptions, postJson } from './tls.ts';

export const AGENT_VERSION = '0.1.0';

export class EnrollmentFailed extends Error {
  override name = 'EnrollmentFailed';
}

/**
 * Enrolls with the single-use token: sends the agent's public key and host facts, and keeps the
 * controller key it gets back. The pin decides what is trusted:
 * - a TLS certificate fingerprint: the certificate is fetched and checked before anything is sent;
 *   the enrollment request then trusts exactly that certificate, which is kept for every later
 *   HTTPS and WSS connection;
 * - a controller key thumbprint: TLS is verified the ordinary way (a CA-issued certificate), and
 *   the controller's key must match the thumbprint.
 */
export async function enroll(
  config: AgentConfig,
  state: AgentState,
  log: Logger,
): Promise<{ key: CryptoKey; jwk: JWK }> {
  if (!config.enrollToken)
    throw new EnrollmentFailed(
      'not enrolled yet and no enrollment token given (--token or BLACKSTART_TOKEN)',
    );
  const pin = config.controllerPin;
  if (!pin)
    throw new EnrollmentFailed(
      'no controller pin given (--pin or BLACKSTART_PIN); refusing to trust an unpinned controller',
    );
  let certificate: string | undefined;
  if (pin.kind === 'tls-certificate') {
    try {
      certificate = await fetchPinnedCertificate(config.controllerUrl, pin.fingerprint);
    } catch (error) {
      throw new EnrollmentFailed((error as Error).message);
    }
  }
  const keys = await state.keys();
  let response: Awaited<ReturnType<typeof postJson>>;
  try {
    response = await postJson(
      `${config.controllerUrl}/api/v1/agents/enroll`,
      {
        token: config.enrollToken,
        host: config.host,
        publicJwk: keys.publicJwk,
        facts: hostFacts(AGENT_VERSION),
      },
      certificate ? { tls: pinnedTlsOptions(certificate) } : {},
    );
  } catch (error) {
    throw new EnrollmentFailed(
      `cannot reach the controller at ${config.controllerUrl}: ${(error as Error).message}`,
    );
  }
  const body = response.body as { controllerKey?: JWK; message?: string; error?: string };
  if (response.status !== 200)
    throw new EnrollmentFailed(
      `controller refused enrollment (${response.status}): ${body.message ?? body.error ?? 'no reason given'}`,
    );
  if (!body.controllerKey) throw new EnrollmentFailed('controller did not send its key');
  let thumbprint: string;
  try {
    thumbprint = await publicKeyThumbprint(body.controllerKey);
  } catch {
    throw new EnrollmentFailed('controller sent a key that is not a JWK');
  }
  if (pin.kind === 'controller-key' && thumbprint !== pin.thumbprint)
    throw new EnrollmentFailed(`controller key ${thumbprint} does not match the pinned ${pin.thumbprint}`);
  if (certificate) state.saveControllerCertificate(certificate);
  state.saveControllerKey(body.controllerKey);
  log.info({ controller: config.controllerUrl, key: thumbprint, pin: pin.kind }, 'enrolled');
  const saved = await state.controllerKey().catch(() => undefined);
  if (!saved) throw new EnrollmentFailed('controller sent a key that is not an Ed25519 public key');
  return saved;
}

const HookListSchema = Type.Array(HookSchema, { maxItems: 64 });
const hookList = lazyValidator(HookListSchema);

/** Reads and validates the fail-safe's hooks file (a JSON array with the plan's hook schema). */
export function loadFailsafeHooks(file: string | undefined) {
  if (!file) return [];
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new EnrollmentFailed(`failsafe-hooks: cannot read ${file}: ${(error as Error).message}`);
  }
  const withDefaults = Value.Default(HookListSchema, value) as unknown;
  if (!hookList().Check(withDefaults)) {
    const first = [...hookList().Errors(withDefaults)][0];
    throw new EnrollmentFailed(
      `failsafe-hooks: ${file}${first?.instancePath ?? ''}: ${first?.message ?? 'invalid hooks'}`,
    );
  }
  return withDefaults;
}

export interface RunningAgent {
  connection: ControllerConnection;
  executor: CommandExecutor;
  failsafe: FailSafe | undefined;
  stop(): void;
}

/** Starts the agent: enroll if needed, connect, carry out commands, and protect the host if the controller vanishes. */
export async function runAgent(config: AgentConfig, log: Logger): Promise<RunningAgent> {
  const state = new AgentState(config.stateDir);
  state.pruneSeen(Date.now());
  const keys = await state.keys();
  const failsafeHooks = loadFailsafeHooks(config.failsafeHooksFile);
  const controller = (await state.controllerKey()) ?? (await enroll(config, state, log));
  const certificate = state.controllerCertificate();
  const power = createPowerAction(config, state);
  // Acknowledgements made while no controller is connected (a shutdown goes on without it) are kept
  // and sent, in order, after the next hello, so the timeline loses no step.
  const MAX_UNSENT = 1000;
  const unsent: Ack[] = [];
  let sendNow: ((message: AgentMessage) => boolean) | undefined;
  const send = (ack: Ack) => {
    if (sendNow?.(ack)) return;
    unsent.push(ack);
    if (unsent.length > MAX_UNSENT) unsent.shift();
  };
  let failsafe: FailSafe | undefined;
  const status = { connected: false, since: new Date().toISOString() };
  const writeStatus = () =>
    state.writeStatus({
      host: config.host,
      controller: config.controllerUrl,
      version: AGENT_VERSION,
      powerAction: power.kind,
      ...status,
      failsafe: failsafe?.status() ?? 'off',
    });
  const executor = new CommandExecutor({
    host: config.host,
    controllerKey: controller.key,
    state,
    power,
    send: (ack) => send(ack),
    log,
    hooks: { libvirtUri: config.libvirtUri, dockerHost: config.dockerHost },
    ups: () => failsafe?.snapshot(),
  });
  if (config.failsafeDeadlineSeconds !== undefined)
    failsafe = new FailSafe(
      {
        deadlineMs: config.failsafeDeadlineSeconds * 1000,
        shutDown: (reason) => executor.shutDownLocally({ reason, hooks: failsafeHooks }),
        log,
        ...(config.nut && { nut: config.nut }),
      },
      writeStatus,
    );
  const connection = new ControllerConnection({
    controllerUrl: config.controllerUrl,
    host: config.host,
    keys,
    log,
    heartbeatMs: config.heartbeatSeconds * 1000,
    ...(certificate && { tls: pinnedTlsOptions(certificate) }),
    onOpen: (open) => {
      sendNow = open;
      const boot = bootId();
      open({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        host: config.host,
        version: AGENT_VERSION,
        hostname: hostname(),
        powerAction: power.kind,
        ...(boot && { bootId: boot }),
      });
      while (unsent.length > 0 && open(unsent[0]!)) unsent.shift();
    },
    onClose: (wasOpen) => {
      sendNow = undefined;
      if (wasOpen && status.connected) {
        status.connected = false;
        status.since = new Date().toISOString();
        failsafe?.controllerLost();
        writeStatus();
      }
    },
    onMessage: (message) => {
      switch (message.type) {
        case 'command': {
          const receivedAt = preciseNow();
          executor
            .handle(message.jws, receivedAt)
            .catch((error: unknown) => log.error({ err: error }, 'command handling failed'));
          break;
        }
        case 'welcome':
          status.connected = true;
          status.since = new Date().toISOString();
          failsafe?.controllerConnected();
          writeStatus();
          break;
        case 'ups-state':
          failsafe?.upsFromController(message);
          break;
        case 'error':
          log.warn({ code: message.code, message: message.message }, 'controller reported an error');
          break;
      }
    },
  });
  writeStatus();
  failsafe?.start();
  connection.start();
  return {
    connection,
    executor,
    failsafe,
    stop: () => {
      failsafe?.stop();
      connection.stop();
    },
  };
}
