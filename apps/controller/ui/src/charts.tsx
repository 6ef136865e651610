// Hand-written SVG charts: a line chart for UPS telemetry and swim-lanes for hosts. Each has a
// text equivalent (aria-label, <title> on marks) for screen readers.
import { time } from './format.ts';
import { type Lane, onBatteryPeriods } from './timeline.ts';
import type { Point } from './types.ts';

const WIDTH = 400;
const PAD_LEFT = 34;
const PAD_RIGHT = 8;

export interface Series {
  label: string;
  /** CSS class giving the stroke colour (see styles.css `.series-*`). */
  tone: string;
  points: Array<[number, number | null]>;
}

function ticks(min: number, max: number): number[] {
  if (max <= min) return [min];
  return [min, (min + max) / 2, max];
}

export function LineChart(props: {
  title: string;
  unit: string;
  series: Series[];
  from: number;
  to: number;
  min?: number;
  max?: number;
  /** Periods drawn shaded behind the lines (on battery). */
  shade?: Array<[number, number]>;
  height?: number;
}) {
  const height = props.height ?? 120;
  const top = 8;
  const bottom = height - 20;
  const values = props.series
    .flatMap((s) => s.points.map((p) => p[1]))
    .filter((v): v is number => v !== null);
  const min = props.min ?? (values.length > 0 ? Math.min(...values) : 0);
  let max = props.max ?? (values.length > 0 ? Math.max(...values) : 1);
  if (max <= min) max = min + 1;
  const span = Math.max(1, props.to - props.from);
  const x = (t: number) => PAD_LEFT + ((t - props.from) / span) * (WIDTH - PAD_LEFT - PAD_RIGHT);
  const y = (v: number) => bottom - ((v - min) / (max - min)) * (bottom - top);
  const last = props.series.map((s) => {
    const value = [...s.points].reverse().find((p) => p[1] !== null)?.[1];
    return `${s.label} ${value === undefined || value === null ? 'no data' : `${Math.round(value * 10) / 10}${props.unit}`}`;
  });
  return (
    <figure class="chart">
      <figcaption>
        {props.title}
        <span class="chart-latest">{last.join(' · ')}</span>
      </figcaption>
      <svg
        viewBox={`0 0 ${WIDTH} ${height}`}
        role="img"
        aria-label={`${props.title} from ${time(props.from)} to ${time(props.to)}: latest ${last.join(', ')}`}
      >
        {(props.shade ?? []).map(([a, b]) => (
          <rect
            class="shade"
            x={x(Math.max(a, props.from))}
            y={top}
            width={Math.max(1, x(Math.min(b, props.to)) - x(Math.max(a, props.from)))}
            height={bottom - top}
          >
            <title>
              on battery {time(a)} – {time(b)}
            </title>
          </rect>
        ))}
        {ticks(min, max).map((v) => (
          <g class="grid">
            <line x1={PAD_LEFT} x2={WIDTH - PAD_RIGHT} y1={y(v)} y2={y(v)} />
            <text x={PAD_LEFT - 4} y={y(v) + 4} text-anchor="end">
              {Math.round(v)}
            </text>
          </g>
        ))}
        <text class="axis" x={PAD_LEFT} y={height - 4}>
          {time(props.from)}
        </text>
        <text class="axis" x={WIDTH - PAD_RIGHT} y={height - 4} text-anchor="end">
          {time(props.to)}
        </text>
        {props.series.map((s) => (
          <path class={`line ${s.tone}`} d={pathOf(s.points, x, y)} />
        ))}
      </svg>
    </figure>
  );
}

function pathOf(points: Array<[number, number | null]>, x: (t: number) => number, y: (v: number) => number) {
  let d = '';
  let pen = false;
  for (const [t, v] of points) {
    if (v === null) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** Lane bars are drawn in a 1000-unit-wide box stretched to the row; names and times stay HTML text. */
const LANE_UNITS = 1000;

/** One row per host: what it was doing when, from the command to healthy again. */
export function Swimlanes(props: { title: string; lanes: Lane[]; from: number; to: number }) {
  const span = Math.max(1, props.to - props.from);
  const x = (t: number) => ((Math.min(Math.max(t, props.from), props.to) - props.from) / span) * LANE_UNITS;
  return (
    <figure class="chart swimlanes">
      <figcaption>{props.title}</figcaption>
      <div class="lanes">
        {props.lanes.map((lane) => (
          <div class="lane-row">
            <span class="lane-name">{lane.label}</span>
            <svg
              class="lane-bar"
              viewBox={`0 0 ${LANE_UNITS} 20`}
              preserveAspectRatio="none"
              role="img"
              aria-label={`${lane.label}: ${lane.segments.map((s) => `${s.label} from ${time(s.from)}`).join('; ') || 'nothing yet'}`}
            >
              {lane.segments.map((s) => (
                <rect
                  class={`seg seg-${s.kind}`}
                  x={x(s.from)}
                  y={3}
                  width={Math.max(3, x(s.to) - x(s.from))}
                  height={14}
                >
                  <title>
                    {lane.label}: {s.label} {time(s.from)} – {time(s.to)}
                  </title>
                </rect>
              ))}
              {lane.marks.map((m) => (
                <rect class={`mark mark-${m.kind}`} x={x(m.at) - 2} y={0} width={4} height={20}>
                  <title>
                    {lane.label}: {m.label} at {time(m.at)}
                  </title>
                </rect>
              ))}
            </svg>
          </div>
        ))}
        <div class="lane-axis">
          <span>{time(props.from)}</span>
          <span>{time(props.to)}</span>
        </div>
      </div>
      <ul class="legend" aria-label="legend">
        {LEGEND.map(([kind, label]) => (
          <li>
            <span class={`swatch seg-${kind}`} aria-hidden="true" /> {label}
          </li>
        ))}
      </ul>
    </figure>
  );
}

export const LEGEND: Array<[string, string]> = [
  ['wait', 'command sent'],
  ['hooks', 'acknowledged, hooks'],
  ['poweroff', 'powering off'],
  ['off', 'offline'],
  ['boot', 'woken'],
  ['up', 'healthy'],
];

/** One telemetry value over time, scaled (runtime in minutes), with gaps where the UPS had no value. */
function series(
  points: Point[],
  pick: (p: Point) => number | null,
  scale = 1,
): Array<[number, number | null]> {
  return points.map((p) => {
    const v = pick(p);
    return [new Date(p.at).getTime(), v === null ? null : v * scale];
  });
}

/** A UPS's telemetry between `from` and `to` as three charts, on-battery stretches shaded. */
export function UpsCharts(props: { points: Point[]; from: number; to: number }) {
  const { points, from, to } = props;
  const shade = onBatteryPeriods(points, to);
  return (
    <div class="charts">
      <LineChart
        title="Charge and load, %"
        unit=" %"
        min={0}
        max={100}
        from={from}
        to={to}
        shade={shade}
        series={[
          { label: 'charge', tone: 'series-a', points: series(points, (p) => p.charge) },
          { label: 'load', tone: 'series-b', points: series(points, (p) => p.load) },
        ]}
      />
      <LineChart
        title="Runtime, minutes"
        unit=" min"
        min={0}
        from={from}
        to={to}
        shade={shade}
        series={[{ label: 'runtime', tone: 'series-c', points: series(points, (p) => p.runtime, 1 / 60) }]}
      />
      <LineChart
        title="Input voltage, V"
        unit=" V"
        from={from}
        to={to}
        shade={shade}
        series={[{ label: 'input', tone: 'series-d', points: series(points, (p) => p.inputVoltage) }]}
      />
    </div>
  );
}
