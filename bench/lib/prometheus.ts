/**
 * Scraping a Prometheus text exposition (StreamHouse's --metrics-listen
 * /metrics): samples, counter deltas between two scrapes, and quantiles of a
 * histogram delta estimated from its buckets.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  /** Date.now() when the answer arrived. */
  at: number;
  samples: Sample[];
}

const LINE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL_RE = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = LINE_RE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL_RE)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const v = m[3]!;
    out.push({ name: m[1]!, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return out;
}

export async function scrape(url: string, timeoutMs = 5000): Promise<Scrape> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return { at: Date.now(), samples: parseExposition(text) };
}

function matches(s: Sample, labels: Record<string, string>): boolean {
  return Object.entries(labels).every(([k, v]) => s.labels[k] === v);
}

/**
 * Sum of the samples named `name` (or any of `name`'s alternatives: prom-client's
 * default metrics carry the registry's prefix) whose labels include `labels`;
 * NaN when there is none.
 */
export function value(s: Scrape, name: string | string[], labels: Record<string, string> = {}): number {
  const names = Array.isArray(name) ? name : [name];
  const hit = s.samples.filter((x) => names.includes(x.name) && matches(x, labels));
  return hit.length ? hit.reduce((a, x) => a + x.value, 0) : NaN;
}

/** after - before of a counter (a series absent before counts as 0 there). */
export function delta(before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number {
  const a = value(after, name, labels);
  if (!Number.isFinite(a)) return 0;
  const b = value(before, name, labels);
  return a - (Number.isFinite(b) ? b : 0);
}

export interface Bucket {
  le: number;
  /** Cumulative count. */
  count: number;
}

/** Cumulative buckets of histogram `name` with `labels`, after - before, sorted by le (+Inf last). */
export function histogramDelta(before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): Bucket[] {
  const bucketsOf = (s: Scrape) => {
    const m = new Map<number, number>();
    for (const x of s.samples) {
      if (x.name !== `${name}_bucket` || !matches(x, labels) || x.labels.le === undefined) continue;
      const le = x.labels.le === '+Inf' ? Infinity : Number(x.labels.le);
      m.set(le, (m.get(le) ?? 0) + x.value);
    }
    return m;
  };
  const a = bucketsOf(after);
  const b = bucketsOf(before);
  return [...a.entries()].map(([le, count]) => ({ le, count: count - (b.get(le) ?? 0) })).sort((x, y) => x.le - y.le);
}

export interface QuantileEstimate {
  /** Estimated value (the unit of the buckets); NaN when the histogram is empty. */
  value: number;
  /** The quantile fell in the +Inf bucket: `value` is the highest finite bound, the true value is above it. */
  aboveLastBucket: boolean;
  /** Bounds of the bucket it fell in. */
  lower: number;
  upper: number;
}

/**
 * The q-quantile estimated from cumulative buckets as Prometheus'
 * histogram_quantile does: find the bucket holding rank q*count and
 * interpolate linearly between its bounds (the first bucket from 0). Only
 * as precise as the buckets.
 */
export function histogramQuantile(q: number, buckets: Bucket[]): QuantileEstimate {
  const total = buckets.length ? buckets[buckets.length - 1]!.count : 0;
  if (!(total > 0)) return { value: NaN, aboveLastBucket: false, lower: NaN, upper: NaN };
  const rank = q * total;
  for (let i = 0; i < buckets.length; i++) {
    const bk = buckets[i]!;
    if (bk.count < rank) continue;
    const lower = i === 0 ? 0 : buckets[i - 1]!.le;
    const prev = i === 0 ? 0 : buckets[i - 1]!.count;
    if (bk.le === Infinity) return { value: lower, aboveLastBucket: true, lower, upper: Infinity };
    const inBucket = bk.count - prev;
    const v = inBucket > 0 ? lower + ((bk.le - lower) * (rank - prev)) / inBucket : bk.le;
    return { value: v, aboveLastBucket: false, lower, upper: bk.le };
  }
  const lastFinite = buckets.filter((b) => Number.isFinite(b.le)).pop();
  return { value: lastFinite?.le ?? NaN, aboveLastBucket: true, lower: lastFinite?.le ?? NaN, upper: Infinity };
}
