import { existsSync, readFileSync } from 'node:fs';
import { PconfTokenizer } from './tokenizer.ts';

/** Descriptions served by `GET DESC` / `GET CMDDESC`, keyed by variable / command name. */
export interface NutDescriptions {
  variables: Record<string, string>;
  commands: Record<string, string>;
}

/** Where Debian and most distributions install NUT's description table. */
export const SYSTEM_CMDVARTAB = '/usr/share/nut/cmdvartab';

/** Parses NUT's `cmdvartab` (`VARDESC <name> "<text>"` / `CMDDESC <name> "<text>"` lines), as upsd does. */
export function parseCmdvartab(text: string): NutDescriptions {
  const descriptions: NutDescriptions = { variables: {}, commands: {} };
  const tokenizer = new PconfTokenizer({ strict: true });
  const use = (words: string[]) => {
    const [kind, name, desc] = words;
    if (name === undefined || desc === undefined) return;
    if (kind === 'VARDESC') descriptions.variables[name] = desc;
    else if (kind === 'CMDDESC') descriptions.commands[name] = desc;
  };
  for (let i = 0; i < text.length; i++) {
    const r = tokenizer.push(text.charCodeAt(i));
    if (r === 1) use(tokenizer.take());
    else if (r === -1) tokenizer.take(); // upsd logs the parse error and skips the line
  }
  use(tokenizer.finish());
  return descriptions;
}

/** The installed NUT description table, or empty descriptions when NUT is not installed. */
export function readSystemCmdvartab(path = SYSTEM_CMDVARTAB): NutDescriptions {
  return existsSync(path) ? parseCmdvartab(readFileSync(path, 'latin1')) : { variables: {}, commands: {} };
}
