// The Prometheus text format of /metrics, and what the dashboard derives from two scrapes: rates
// of counters, and percentiles of histograms over the scrapes' interval.

export type Samples = Map<string, number>; // 'name{labels}' -> value

export function parseMetrics(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const value = Number(line.slice(space + 1));
    if (!Number.isNaN(value)) out.set(line.slice(0, space), value);
  }
  return out;
}

// The sum over every label set of a metric.
export function total(s: Samples, name: string): number | undefined {
  let sum: number | undefined;
  for (const [key, v] of s) if (key === name || key.startsWith(name + '{')) sum = (sum ?? 0) + v;
  return sum;
}

// Each value of `label` in a metric's series, with the metric summed over its other labels.
export function byLabel(s: Samples, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = new RegExp(`[{,]${label}="([^"]*)"`);
  for (const [key, v] of s) {
    if (!key.startsWith(name + '{')) continue;
    const value = key.match(re)?.[1];
    if (value !== undefined) out.set(value, (out.get(value) ?? 0) + v);
  }
  return out;
}

// Cumulative bucket counts of a histogram, by upper bound, summed over its other labels (only the
// series holding `only`, e.g. 'upstream="a"', when given).
function buckets(s: Samples, name: string, only?: string): Map<number, number> {
  const out = new Map<number, number>();
  const prefix = name + '_bucket{';
  for (const [key, v] of s) {
    if (!key.startsWith(prefix) || (only && !key.includes(only))) continue;
    const le = key.match(/le="([^"]+)"/)?.[1];
    if (!le) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + v);
  }
  return out;
}

// The q-quantile of the observations made between scrapes `before` and `now` (linear within a
// bucket, as Prometheus's histogram_quantile); undefined when there were none.
export function quantile(before: Samples | undefined, now: Samples, name: string, q: number, only?: string): number | undefined {
  const b1 = buckets(now, name, only);
  const b0 = before ? buckets(before, name, only) : new Map<number, number>();
  const bounds = [...b1.keys()].sort((a, b) => a - b);
  const counts = bounds.map((b) => (b1.get(b) ?? 0) - (b0.get(b) ?? 0));
  const n = counts[counts.length - 1];
  if (!n || n <= 0) return undefined;
  const rank = q * n;
  for (let i = 0; i < bounds.length; ++i) {
    if (counts[i] >= rank) {
      if (bounds[i] === Infinity) return bounds[i - 1];
      const lo = i ? bounds[i - 1] : 0, below = i ? counts[i - 1] : 0;
      const inBucket = counts[i] - below;
      return inBucket > 0 ? lo + ((bounds[i] - lo) * (rank - below)) / inBucket : bounds[i];
    }
  }
  return undefined;
}
