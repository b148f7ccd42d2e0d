/**
 * What the soak samples and what it makes of it: each process's resident memory (from /proc),
 * the workers' JS heap and checkpoint (from their /metrics), and after the warm-up the slope of
 * each series in MB per hour (least squares).
 *
 * @module
 */

import { round, usage } from "../bench/measure.ts";

/** One process at one moment. */
export interface ProcessSample {
  /** Resident memory, MB (null once the process is gone). */
  rssMb: number | null;
  /** JS heap in use (`nodejs_heap_size_used_bytes`), MB; workers only. */
  heapMb?: number | null;
  /** Memory held outside the JS heap (`nodejs_external_memory_bytes`), MB; workers only. */
  externalMb?: number | null;
  /** `scan_worker_checkpoint_event_id`; workers only. */
  checkpoint?: number | null;
}

/** Every process at one moment, `seconds` after the start. */
export interface Sample {
  seconds: number;
  processes: Record<string, ProcessSample>;
}

/** A process to sample: its pid, and its /metrics when it is a worker. */
export interface Sampled {
  readonly name: string;
  readonly pid: number;
  readonly metricsUrl?: string;
}

/** The value of an unlabelled sample `name` in a Prometheus text exposition, or null. */
export function metricValue(text: string, name: string): number | null {
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return match?.[1] === undefined ? null : Number(match[1]);
}

const MB = 1024 * 1024;

/** A worker's heap, memory outside the heap (MB) and checkpoint from its /metrics. */
interface Scraped {
  heapMb: number | null;
  externalMb: number | null;
  checkpoint: number | null;
}

/** Scrape `url`; nulls when it does not answer. */
export async function scrape(url: string): Promise<Scraped> {
  let text = "";
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    text = await response.text();
  } catch {
    // unanswered: the values stay null
  }
  const mb = (name: string) => {
    const value = metricValue(text, name);
    return value === null ? null : round(value / MB, 1);
  };
  return {
    heapMb: mb("nodejs_heap_size_used_bytes"),
    externalMb: mb("nodejs_external_memory_bytes"),
    checkpoint: metricValue(text, "scan_worker_checkpoint_event_id"),
  };
}

/** Sample one process. */
async function sampleOne(process: Sampled): Promise<ProcessSample> {
  const used = await usage(process.pid);
  const rssMb = used === null ? null : round(used.rssMb, 1);
  if (process.metricsUrl === undefined) return { rssMb };
  return { rssMb, ...await scrape(process.metricsUrl) };
}

/** Sample every process now. */
export async function sampleAll(processes: readonly Sampled[], seconds: number): Promise<Sample> {
  const values = await Promise.all(processes.map(sampleOne));
  return {
    seconds: round(seconds, 1),
    processes: Object.fromEntries(processes.map((p, i) => [p.name, values[i] as ProcessSample])),
  };
}

/** The series a sample takes at its lowest reading since the previous sample. */
const LOW_SERIES = ["rssMb", "heapMb", "externalMb"] as const;

/**
 * The lowest readings of each process's memory between two samples. The heap in use is a
 * sawtooth (it climbs between collections) and the resident memory follows it, less steeply:
 * one reading per sample lands anywhere on the tooth, and a slope through such readings is
 * mostly noise. Their low points, read every second, follow what the collections leave alive;
 * a leak lifts them.
 */
export class Lows {
  readonly #lows = new Map<string, Partial<Record<(typeof LOW_SERIES)[number], number>>>();

  /** Read each process's memory (and each worker's /metrics) once; keep the lowest values. */
  async probe(processes: readonly Sampled[]): Promise<void> {
    const read = await Promise.all(processes.map(sampleOne));
    processes.forEach((p, i) => {
      const low = this.#lows.get(p.name) ?? {};
      for (const series of LOW_SERIES) {
        const value = read[i]?.[series];
        if (typeof value === "number") low[series] = Math.min(value, low[series] ?? value);
      }
      this.#lows.set(p.name, low);
    });
  }

  /** Lower `sample`'s memory values to the lowest probed since the last call, and start again. */
  apply(sample: Sample): void {
    for (const [name, low] of this.#lows) {
      const p = sample.processes[name];
      if (p === undefined) continue;
      for (const series of LOW_SERIES) {
        const value = p[series];
        const lowest = low[series];
        if (typeof value === "number" && lowest !== undefined) p[series] = Math.min(value, lowest);
      }
    }
    this.#lows.clear();
  }
}

/** A least-squares line through (hours, MB) points. */
export interface Slope {
  /** Points it was fitted to. */
  points: number;
  /** MB per hour; null with fewer than 2 points. */
  mbPerHour: number | null;
  /** Its standard error, MB per hour (the noise's share of it); null with fewer than 3 points. */
  errorMbPerHour: number | null;
}

/** The least-squares slope of `points` ([x, y] pairs), in y per x; null with fewer than 2. */
export function leastSquares(points: readonly (readonly [number, number])[]): number | null {
  return fit(points)?.slope ?? null;
}

/** The least-squares slope of `points` and its standard error (null with fewer than 3). */
function fit(
  points: readonly (readonly [number, number])[],
): { slope: number; error: number | null } | null {
  const n = points.length;
  if (n < 2) return null;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - meanX) * (y - meanY);
    sxx += (x - meanX) ** 2;
  }
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  const residuals = points.reduce((sum, [x, y]) => sum + (y - meanY - slope * (x - meanX)) ** 2, 0);
  return { slope, error: n < 3 ? null : Math.sqrt(residuals / (n - 2) / sxx) };
}

/**
 * The slope in MB/h of one series of `process` from `fromSeconds` on. With `floorS`, through
 * each `floorS`-second window's lowest value (at the window's mean time) instead of every
 * sample: the floor the collections leave, which a leak lifts, without the sawtooth on top.
 * Windows with fewer than half the samples of the fullest are left out.
 */
export function slopeOf(
  samples: readonly Sample[],
  process: string,
  series: "rssMb" | "heapMb" | "externalMb",
  fromSeconds: number,
  floorS = 0,
): Slope {
  const windows = new Map<number, { seconds: number[]; low: number }>();
  for (const sample of samples) {
    const value = sample.processes[process]?.[series];
    if (sample.seconds < fromSeconds || typeof value !== "number") continue;
    const key = floorS > 0 ? Math.floor((sample.seconds - fromSeconds) / floorS) : sample.seconds;
    const window = windows.get(key) ?? { seconds: [], low: value };
    window.seconds.push(sample.seconds);
    window.low = Math.min(window.low, value);
    windows.set(key, window);
  }
  // A window cut short (the last one, or one with samples missing) has no floor: its lowest
  // value is one reading anywhere on the sawtooth.
  const full = Math.max(0, ...[...windows.values()].map((w) => w.seconds.length));
  const points = [...windows.values()].filter((w) => w.seconds.length * 2 >= full)
    .map(({ seconds, low }): [number, number] => [
      seconds.reduce((sum, s) => sum + s, 0) / seconds.length / 3600,
      low,
    ]);
  const line = fit(points);
  return {
    points: points.length,
    mbPerHour: line === null ? null : round(line.slope, 2),
    errorMbPerHour: line === null || line.error === null ? null : round(line.error, 2),
  };
}

/** A table row of `sample` for `names` (RSS for each; heap and checkpoint for workers). */
export function tableRow(sample: Sample, names: readonly string[]): string {
  const cell = (value: number | null | undefined, width: number) =>
    (value === null || value === undefined ? "-" : String(value)).padStart(width);
  const cells = names.map((name) => {
    const p = sample.processes[name];
    if (p === undefined) return "";
    const memory = cell(p.rssMb, 7);
    return p.heapMb === undefined
      ? memory
      : `${memory} ${cell(p.heapMb, 6)} ${cell(p.externalMb, 6)} ${cell(p.checkpoint, 9)}`;
  });
  return `${cell(sample.seconds, 7)} | ${cells.join(" | ")}`;
}

/** The two header lines of {@link tableRow}'s table. */
export function tableHeader(names: readonly string[], workers: ReadonlySet<string>): string {
  const width = (name: string) => (workers.has(name) ? 31 : 7);
  const first = names.map((name) => name.slice(0, width(name)).padStart(width(name)));
  const second = names.map((name) =>
    workers.has(name)
      ? `${"rss".padStart(7)} ${"heap".padStart(6)} ${"ext".padStart(6)} ${"ckpt".padStart(9)}`
      : "rss".padStart(7)
  );
  return `${"".padStart(7)} | ${first.join(" | ")}\n${"t (s)".padStart(7)} | ${second.join(" | ")}`;
}
