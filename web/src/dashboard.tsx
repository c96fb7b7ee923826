// Live charts from the server's own /metrics, scraped every second: throughput, latency
// percentiles, the engine's queue, batch and KV cache, the caches' hit rates, GPU figures when
// the server exports them; and a log of the last requests.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api } from './api';
import { byLabel, parseMetrics, quantile, total, type Samples } from './metrics';

const WINDOW = 120; // points kept (two minutes)

interface Series { label: string; values: (number | null)[] }
interface ChartDef { id: string; title: string; unit: string; series: string[] }

const CHARTS: ChartDef[] = [
  { id: 'tps', title: 'Tokens per second', unit: 'tok/s', series: ['generated', 'prompt'] },
  { id: 'ttft', title: 'Time to first token', unit: 's', series: ['p50', 'p95'] },
  { id: 'latency', title: 'Request latency', unit: 's', series: ['p50', 'p95', 'p99'] },
  { id: 'engine', title: 'Queue and batch', unit: 'sequences', series: ['queue depth', 'running', 'batch tokens'] },
  { id: 'kv', title: 'KV cache use', unit: '%', series: ['used', 'prefix-cache hit rate', 'response-cache hit rate'] },
];

interface RecentRequest { time: number; method: string; path: string; status: number; duration_ms: number; prompt_tokens: number; completion_tokens: number }

// "GPU 0 memory" and "GPU 0 utilisation" of each GPU the server's NVML reports; none without one.
function gpuFigures(s: Samples): [string, string][] {
  const out: [string, string][] = [];
  const gib = (v: number) => (v / 2 ** 30).toFixed(1);
  for (const [key, used] of s) {
    const gpu = key.match(/^hayate_gpu_memory_used_bytes\{gpu="(\d+)"\}$/)?.[1];
    if (gpu === undefined) continue;
    const totalBytes = s.get(`hayate_gpu_memory_total_bytes{gpu="${gpu}"}`) ?? 0;
    const util = s.get(`hayate_gpu_utilization_ratio{gpu="${gpu}"}`);
    out.push([`GPU ${gpu} memory`, `${gib(used)} of ${gib(totalBytes)} GiB`]);
    if (util !== undefined) out.push([`GPU ${gpu} utilisation`, `${(100 * util).toFixed(0)} %`]);
  }
  return out;
}

// The page served through `hayate gateway` (issue 18): /metrics is the gateway's own, with a row per
// upstream. Rates and latency percentiles are over the last scrape interval; counts since the start.
interface UpstreamRow { name: string; up: boolean; inFlight: number; rps: number | null; p50: number | null; p95: number | null; errors: number; retries: number; ejections: number }

function upstreamRows(s: Samples, p: { s: Samples; t: number } | null, now: number): UpstreamRow[] {
  const up = byLabel(s, 'hayate_gateway_upstream_up', 'upstream');
  const inFlight = byLabel(s, 'hayate_gateway_upstream_in_flight', 'upstream');
  const answered = byLabel(s, 'hayate_gateway_upstream_requests_total', 'upstream');
  const before = p ? byLabel(p.s, 'hayate_gateway_upstream_requests_total', 'upstream') : undefined;
  const errors = byLabel(s, 'hayate_gateway_upstream_errors_total', 'upstream');
  const retries = byLabel(s, 'hayate_gateway_upstream_retries_total', 'upstream');
  const ejections = byLabel(s, 'hayate_gateway_upstream_ejections_total', 'upstream');
  const dt = p ? now - p.t : 0;
  const latency = 'hayate_gateway_upstream_latency_seconds';
  return [...up.keys()].sort().map((name) => ({
    name,
    up: up.get(name) === 1,
    inFlight: inFlight.get(name) ?? 0,
    rps: before && dt > 0 ? Math.max(0, ((answered.get(name) ?? 0) - (before.get(name) ?? 0)) / dt) : null,
    p50: quantile(p?.s, s, latency, 0.5, `upstream="${name}"`) ?? null,
    p95: quantile(p?.s, s, latency, 0.95, `upstream="${name}"`) ?? null,
    errors: errors.get(name) ?? 0,
    retries: retries.get(name) ?? 0,
    ejections: ejections.get(name) ?? 0,
  }));
}

const seconds = (v: number | null) => (v === null ? '–' : `${(1000 * v).toFixed(1)} ms`);

export function Dashboard() {
  const [error, setError] = useState('');
  const [latest, setLatest] = useState<Record<string, string>>({});
  const [recent, setRecent] = useState<RecentRequest[]>([]);
  const [gpu, setGpu] = useState<[string, string][]>([]);
  const [upstreams, setUpstreams] = useState<UpstreamRow[]>([]);
  const plots = useRef(new Map<string, uPlot>());
  const data = useRef({ t: [] as number[], series: new Map<string, Series[]>() });
  const prev = useRef<{ s: Samples; t: number } | null>(null);

  useEffect(() => {
    for (const c of CHARTS) data.current.series.set(c.id, c.series.map((label) => ({ label, values: [] })));
    const colors = ['#1f5fbf', '#b8420f', '#2e7d32'];
    for (const c of CHARTS) {
      const el = document.getElementById(`chart-${c.id}`)!;
      const opts: uPlot.Options = {
        width: Math.min(560, el.clientWidth || 560), height: 200,
        series: [{}, ...c.series.map((label, i) => ({ label, stroke: colors[i], width: 2 }))],
        axes: [{}, { label: c.unit, size: 60 }],
        scales: { x: { time: true } },
      };
      plots.current.set(c.id, new uPlot(opts, [[], ...c.series.map(() => [])], el));
    }
    const tick = async () => {
      try {
        const s = parseMetrics(await api<string>('/metrics'));
        const now = Date.now() / 1000;
        update(s, now);
        setError('');
      } catch (e) {
        setError(`Cannot read /metrics: ${(e as Error).message}`);
      }
      api<{ data: RecentRequest[] }>('/v1/requests/recent').then((r) => setRecent(r.data)).catch(() => {});
    };
    tick();
    const timer = setInterval(tick, 1000);
    return () => { clearInterval(timer); for (const p of plots.current.values()) p.destroy(); };
  }, []);

  const update = (s: Samples, now: number) => {
    const p = prev.current;
    const dt = p ? now - p.t : 0;
    const rate = (name: string) => (p && dt > 0 ? Math.max(0, ((total(s, name) ?? 0) - (total(p.s, name) ?? 0)) / dt) : null);
    const q = (name: string, x: number) => quantile(p?.s, s, name, x) ?? null;
    const used = total(s, 'hayate_kv_blocks_used') ?? 0, free = total(s, 'hayate_kv_blocks_free') ?? 0;
    const pct = (v: number | undefined) => (v === undefined ? null : 100 * v);
    const values: Record<string, (number | null)[]> = {
      tps: [rate('hayate_generation_tokens_total'), rate('hayate_prompt_tokens_total')],
      ttft: [q('hayate_time_to_first_token_seconds', 0.5), q('hayate_time_to_first_token_seconds', 0.95)],
      latency: [q('hayate_request_duration_seconds', 0.5), q('hayate_request_duration_seconds', 0.95), q('hayate_request_duration_seconds', 0.99)],
      engine: [total(s, 'hayate_queue_depth') ?? null, total(s, 'hayate_running_sequences') ?? null, total(s, 'hayate_batch_size') ?? null],
      kv: [used + free > 0 ? (100 * used) / (used + free) : null, pct(total(s, 'hayate_prefix_cache_hit_ratio')), pct(total(s, 'hayate_cache_hit_ratio'))],
    };
    const d = data.current;
    d.t.push(now);
    if (d.t.length > WINDOW) d.t.shift();
    const shown: Record<string, string> = {};
    for (const c of CHARTS) {
      const series = d.series.get(c.id)!;
      series.forEach((ser, i) => {
        ser.values.push(values[c.id][i]);
        if (ser.values.length > WINDOW) ser.values.shift();
        const v = values[c.id][i];
        shown[`${c.title}: ${ser.label}`] = v === null ? '–' : `${v.toFixed(c.unit === 's' ? 3 : 1)} ${c.unit}`;
      });
      plots.current.get(c.id)?.setData([d.t, ...series.map((x) => x.values)] as uPlot.AlignedData);
    }
    setLatest(shown);
    setGpu(gpuFigures(s));
    setUpstreams(upstreamRows(s, p, now));
    prev.current = { s, t: now };
  };

  return (
    <div class="dashboard">
      <h1>Dashboard</h1>
      {error && <p class="error" role="alert">{error}</p>}
      {upstreams.length > 0 && (
        <section aria-labelledby="gateway-title">
          <h2 id="gateway-title">Gateway upstreams</h2>
          <p class="note">This page comes through hayate gateway: its /metrics, per upstream (rates and latency over the last second; errors, retries and ejections since the gateway started).</p>
          <table class="recent gateway">
            <thead><tr><th scope="col">Upstream</th><th scope="col">State</th><th scope="col">In flight</th><th scope="col">Requests/s</th><th scope="col">Latency p50</th><th scope="col">Latency p95</th><th scope="col">Errors</th><th scope="col">Retries</th><th scope="col">Ejections</th></tr></thead>
            <tbody>
              {upstreams.map((u) => (
                <tr key={u.name} data-upstream={u.name}>
                  <th scope="row">{u.name}</th>
                  <td data-col="state">{u.up ? 'up' : 'out'}</td>
                  <td data-col="in-flight">{u.inFlight}</td>
                  <td data-col="rps">{u.rps === null ? '–' : u.rps.toFixed(1)}</td>
                  <td data-col="p50">{seconds(u.p50)}</td>
                  <td data-col="p95">{seconds(u.p95)}</td>
                  <td data-col="errors">{u.errors}</td>
                  <td data-col="retries">{u.retries}</td>
                  <td data-col="ejections">{u.ejections}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      <div class="charts">
        {CHARTS.map((c) => (
          <figure class="chart" key={c.id}>
            <figcaption>{c.title}</figcaption>
            <div id={`chart-${c.id}`} data-chart={c.id} role="img" aria-label={`${c.title} over the last two minutes`} />
          </figure>
        ))}
      </div>
      <h2>Now</h2>
      <dl class="latest">
        {Object.entries(latest).map(([k, v]) => (<><dt>{k}</dt><dd data-metric={k}>{v}</dd></>))}
        {gpu.map(([k, v]) => (<><dt>{k}</dt><dd data-metric={k}>{v}</dd></>))}
      </dl>
      {gpu.length === 0 && <p class="note">No GPU figures: this server exports none (it runs on the CPU, or its backend reports none).</p>}
      <h2>Recent requests</h2>
      <table class="recent">
        <thead><tr><th scope="col">Time</th><th scope="col">Request</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col">Tokens in / out</th></tr></thead>
        <tbody>
          {recent.map((r, i) => (
            <tr key={i}>
              <td>{new Date(r.time * 1000).toLocaleTimeString()}</td>
              <td>{r.method} {r.path}</td>
              <td>{r.status}</td>
              <td>{r.duration_ms} ms</td>
              <td>{r.prompt_tokens} / {r.completion_tokens}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
