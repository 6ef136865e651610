export {
  NUT_DEFAULT_PORT,
  NutClient,
  type NutClientEvents,
  type NutClientOptions,
  type NutRange,
  type NutReconnectOptions,
  type NutSessionOptions,
  type NutTimeouts,
  type NutTlsOptions,
  type NutVarType,
} from './client.ts';
export {
  type NutDescriptions,
  parseCmdvartab,
  readSystemCmdvartab,
  SYSTEM_CMDVARTAB,
} from './descriptions.ts';
export {
  isNoDataError,
  type KnownNutErrorCode,
  NUT_ERROR_CODES,
  NutError,
  type NutErrorCode,
  NutTransportError,
  type NutTransportFailure,
} from './errors.ts';
export {
  type NutChange,
  type NutNoDataReason,
  NutPoller,
  type NutPollerEvents,
  type NutPollerOptions,
  type NutPollerState,
  type NutReading,
  watchUps,
} from './poller.ts';
export {
  type NutAvailability,
  type NutClientInfo,
  type NutCommandRequest,
  type NutDisconnectReason,
  type NutIdentity,
  NutServer,
  type NutServerEvents,
  type NutServerOptions,
  type NutUpsDefinition,
  type NutVarInfo,
} from './server.ts';
export { formatStatus, parseStatus, STATUS_TOKENS, type StatusToken, type UpsStatus } from './status.ts';
export {
  encodeLine,
  encodeWord,
  escapeValue,
  MAX_WORD_LENGTH,
  MAX_WORDS,
  PconfTokenizer,
  type PlainLine,
  plainLineWords,
  readPlainLine,
  type TokenizedLine,
  type TokenizerOptions,
  tokenize,
} from './tokenizer.ts';
export { hashPassword, type NutServerUser, verifyPassword } from './users.ts';
