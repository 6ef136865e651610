import type { SourceConfig } from '../config.ts';
import type { Logger } from '../logger.ts';
import { HidSource } from './hid.ts';
import { NutSource } from './nut.ts';
import { SimulatorSource } from './simulator.ts';
import type { PowerSource } from './source.ts';

export { HidSource } from './hid.ts';
export { NutSource } from './nut.ts';
export { SimulatorSource } from './simulator.ts';
export * from './source.ts';

/** The source a configuration entry describes. */
export function createSource(config: SourceConfig, log: Logger): PowerSource {
  switch (config.type) {
    case 'simulator':
      return new SimulatorSource(config);
    case 'nut':
      return new NutSource(config, log);
    case 'hid':
      return new HidSource(config, log);
  }
}
