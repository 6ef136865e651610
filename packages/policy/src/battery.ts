import type { BatterySample } from './plan.ts';

/**
 * Runtime on a full battery as a function of load: runtime = k · load^(−exponent) (Peukert's law).
 * Fitted from the UPS's own readings of `battery.runtime` at various `ups.load`.
 */
export interface BatteryModel {
  /** Runtime in seconds at 1 % load on a full battery (the scale of the power law). */
  k: number;
  exponent: number;
  /** Samples the model was fitted from. */
  samples: number;
  /** Range of loads seen: the model is an extrapolation outside it. */
  loads: [number, number];
}

/** Used when every sample has the same load: typical of small lead-acid UPS batteries. */
export const DEFAULT_EXPONENT = 1.3;

/**
 * Least-squares fit of log(runtime) against log(load). Runtime readings taken below a full charge
 * are scaled up to a full battery first. Returns undefined without a usable sample.
 */
export function fitBatteryModel(samples: readonly BatterySample[]): BatteryModel | undefined {
  const points = samples
    .filter((s) => s.load > 0 && s.runtime > 0 && (s.charge === undefined || s.charge > 5))
    .map((s) => ({ x: Math.log(s.load), y: Math.log(s.runtime / ((s.charge ?? 100) / 100)) }));
  if (points.length === 0) return undefined;
  const loads = samples.filter((s) => s.load > 0).map((s) => s.load);
  const range: [number, number] = [Math.min(...loads), Math.max(...loads)];
  const meanX = points.reduce((a, p) => a + p.x, 0) / points.length;
  const meanY = points.reduce((a, p) => a + p.y, 0) / points.length;
  const sxx = points.reduce((a, p) => a + (p.x - meanX) ** 2, 0);
  let exponent = DEFAULT_EXPONENT;
  if (sxx > 1e-6) {
    const sxy = points.reduce((a, p) => a + (p.x - meanX) * (p.y - meanY), 0);
    // Physical batteries sit between "energy only" (1) and strongly rate-limited (2); noise outside is clamped.
    exponent = Math.min(2, Math.max(0.5, -sxy / sxx));
  }
  return { k: Math.exp(meanY + exponent * meanX), exponent, samples: points.length, loads: range };
}

/** Seconds of runtime on a full battery at `load` %. */
export function runtimeAt(model: BatteryModel, load: number): number {
  return model.k * Math.max(load, 0.5) ** -model.exponent;
}
