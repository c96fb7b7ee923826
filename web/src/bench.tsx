// The benchmark page: a small `hayate bench serve` sweep that the server runs against itself
// (bounded there), its progress, and the report's charts (`hayate report --html`, inline SVG and
// no scripts) in a sandboxed frame.
import { useEffect, useState } from 'preact/hooks';
import { api, apiKey } from './api';

interface BenchStatus { state: string; error: string; log?: string; report: boolean; params: { concurrency?: number[] } }

export function Bench() {
  const [levels, setLevels] = useState('1,2,4');
  const [requests, setRequests] = useState(8);
  const [maxTokens, setMaxTokens] = useState(32);
  const [status, setStatus] = useState<BenchStatus | null>(null);
  const [report, setReport] = useState('');
  const [error, setError] = useState('');

  const poll = async () => {
    const s = await api<BenchStatus>('/v1/bench/runs');
    setStatus(s);
    if (s.report) {
      const headers: Record<string, string> = apiKey.get() ? { Authorization: `Bearer ${apiKey.get()}` } : {};
      setReport(await (await fetch('/v1/bench/report', { headers })).text());
    }
    return s;
  };
  useEffect(() => {
    let stop = false;
    const loop = async () => {
      while (!stop) {
        const s = await poll().catch((e) => { setError(String(e.message)); return null; });
        if (s?.state !== 'running') break;
        await new Promise((r) => setTimeout(r, 1000));
      }
    };
    void loop();
    return () => { stop = true; };
  }, [status?.state === 'running']);

  const run = async (e: Event) => {
    e.preventDefault();
    setError('');
    setReport('');
    try {
      const concurrency = levels.split(',').map((x) => Number(x.trim()));
      setStatus(await api<BenchStatus>('/v1/bench/runs', { method: 'POST', body: JSON.stringify({ concurrency, requests, max_tokens: maxTokens }) }));
    } catch (err) {
      setError(String((err as Error).message));
    }
  };

  const running = status?.state === 'running';
  return (
    <div class="bench">
      <h1>Benchmark</h1>
      <p class="note">Runs <code>hayate bench serve</code> against this server (at most 4 levels of 8 streams, 64 requests and 128 tokens each), then shows its report.</p>
      <form class="bench-form" onSubmit={run}>
        <label class="field">Concurrent streams (comma-separated)<input value={levels} onInput={(e) => setLevels((e.target as HTMLInputElement).value)} /></label>
        <label class="field">Requests per level<input type="number" min="1" max="64" value={requests} onInput={(e) => setRequests(Number((e.target as HTMLInputElement).value))} /></label>
        <label class="field">Max tokens<input type="number" min="1" max="128" value={maxTokens} onInput={(e) => setMaxTokens(Number((e.target as HTMLInputElement).value))} /></label>
        <button type="submit" disabled={running}>{running ? 'Running…' : 'Run benchmark'}</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      <p role="status">{status ? `Benchmark: ${status.state}` : ''}{status?.error ? ` — ${status.error}` : ''}</p>
      {status?.log && (status.state !== 'done') && <pre class="bench-log">{status.log}</pre>}
      {report && <iframe class="report" title="Benchmark report" sandbox="" srcdoc={report} />}
    </div>
  );
}
