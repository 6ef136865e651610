import { hostname } from 'node:os';
import { PROTOCOL_VERSION, publicKeyThumbprint } from '@blackstart/agent-protocol';
import type { CryptoKey, JWK } from 'jose';
import type { Logger } from 'pino';
import type { AgentConfig } from './config.ts';
import { ControllerConnection } from './connection.ts';
import { CommandExecutor } from './executor.ts';
import { bootId, hostFacts } from './facts.ts';
import { createPowerAction } from './power.ts';
import { AgentState } from './state.ts';

export const AGENT_VERSION = '0.1.0';

export class EnrollmentFailed extends Error {
  override name = 'EnrollmentFailed';
}

/**
 * Enrolls with the single-use token: sends the agent's public key and host facts, and pins the
 * controller key it gets back against the thumbprint given at install.
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
  if (!config.controllerPin)
    throw new EnrollmentFailed(
      'no controller key pin given (--pin or BLACKSTART_PIN); refusing to trust an unpinned controller',
    );
  const keys = await state.keys();
  const response = await fetch(`${config.controllerUrl}/api/v1/agents/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      token: config.enrollToken,
      host: config.host,
      publicJwk: keys.publicJwk,
      facts: hostFacts(AGENT_VERSION),
    }),
    signal: AbortSignal.timeout(15_000),
  });
  const body = (await response.json().catch(() => ({}))) as {
    controllerKey?: JWK;
    message?: string;
    error?: string;
  };
  if (!response.ok)
    throw new EnrollmentFailed(
      `controller refused enrollment (${response.status}): ${body.message ?? body.error ?? 'no reason given'}`,
    );
  if (!body.controllerKey) throw new EnrollmentFailed('controller did not send its key');
  const thumbprint = await publicKeyThumbprint(body.controllerKey);
  if (thumbprint !== config.controllerPin)
    throw new EnrollmentFailed(
      `controller key ${thumbprint} does not match the pinned ${config.controllerPin}`,
    );
  state.saveControllerKey(body.controllerKey);
  log.info({ controller: config.controllerUrl, key: thumbprint }, 'enrolled');
  return (await state.controllerKey())!;
}

export interface RunningAgent {
  connection: ControllerConnection;
  stop(): void;
}

/** Starts the agent: enroll if needed, connect, and carry out commands. */
export async function runAgent(config: AgentConfig, log: Logger): Promise<RunningAgent> {
  const state = new AgentState(config.stateDir);
  state.pruneSeen(Date.now());
  const keys = await state.keys();
  const controller = (await state.controllerKey()) ?? (await enroll(config, state, log));
  const power = createPowerAction(config, state);
  let send: (message: Parameters<ControllerConnection['send']>[0]) => void = () => {};
  const executor = new CommandExecutor({
    host: config.host,
    controllerKey: controller.key,
    state,
    power,
    send: (ack) => send(ack),
    log,
  });
  const connection = new ControllerConnection({
    controllerUrl: config.controllerUrl,
    host: config.host,
    keys,
    log,
    onOpen: (sendNow) => {
      send = sendNow;
      const boot = bootId();
      sendNow({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        host: config.host,
        version: AGENT_VERSION,
        hostname: hostname(),
        powerAction: power.kind,
        ...(boot && { bootId: boot }),
      });
    },
    onClose: () => {
      send = () => {};
    },
    onMessage: (message) => {
      switch (message.type) {
        case 'command':
          void executor
            .handle(message.jws)
            .catch((error: unknown) => log.error({ err: error }, 'command handling failed'));
          break;
        case 'error':
          log.warn({ code: message.code, message: message.message }, 'controller reported an error');
          break;
        case 'welcome':
        case 'ups-state':
          break;
      }
    },
  });
  connection.start();
  return { connection, stop: () => connection.stop() };
}
