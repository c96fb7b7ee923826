// The dashboard page served through `hayate gateway` (issue 18), in headless Debian Chromium: the
// gateway passes the page on from a hayate server and answers /metrics itself, so the page shows a
// row per upstream (state, in flight, requests per second, latency, errors, retries, ejections)
// that moves while a load runs: a real server, and an upstream nobody listens on, whose failures
// are retried on the other and eject it. A screenshot goes to OUTDIR.
//
//   node gateway_dashboard_test.mjs HAYATE OUTDIR
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';
import { startServer } from './serve.mjs';

const [hayate, outDir] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'hayate-gw-dash-'));

// A port that was free a moment ago and that nothing listens on: connecting fails at once.
const deadPort = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});

const server = await startServer(hayate, ['--debug-step-delay-ms', '20']);
const config = join(work, 'gateway.toml');
writeFileSync(config, [
  'retries = 2', 'health_interval = 0', 'eject_failures = 1', 'eject_seconds = 600', 'eject_max_seconds = 600',
  '[[upstreams]]', 'name = "dead"', `url = "http://127.0.0.1:${deadPort}"`, 'model = "m"', 'upstream_model = "hayate-demo"',
  '[[upstreams]]', 'name = "live"', `url = "${server.base}"`, 'model = "m"', 'upstream_model = "hayate-demo"', '',
].join('\n'));
const gateway = spawn(hayate, ['gateway', '--config', config, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
let gatewayLog = '';
const base = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('hayate gateway did not start:\n' + gatewayLog)), 30000);
  const onData = (d) => {
    gatewayLog += d.toString();
    const m = gatewayLog.match(/listening on [\d.]+:(\d+)/);
    if (m) { clearTimeout(timer); resolve(`http://127.0.0.1:${m[1]}`); }
  };
  gateway.stdout.on('data', onData);
  gateway.stderr.on('data', onData);
  gateway.on('exit', (code) => reject(new Error(`hayate gateway exited (${code}):\n${gatewayLog}`)));
});

const { browser, close } = await launchChromium();
let loading = true;
let failed = 0;
const load = (async () => {  // streamed answers of ~40 steps, one after another, through the gateway
  while (loading) {
    const r = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'Tell me about Milo.' }], max_tokens: 40, stream: true }),
    });
    await r.text();
    if (r.status !== 200) ++failed;
  }
})();

let ok = false;
try {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${base}/#/dashboard`);
  await page.getByRole('heading', { name: 'Gateway upstreams' }).waitFor({ timeout: 30000 });
  const cell = (upstream, col) => page.locator(`tr[data-upstream="${upstream}"] td[data-col="${col}"]`).innerText();
  // Waits for each figure to show what the load does (never for a guessed time).
  const until = async (what, test) => {
    for (let i = 0; i < 300; ++i) {
      if (await test()) return;
      await page.waitForTimeout(100);
    }
    assert.fail(`the dashboard never showed ${what}`);
  };
  await until('a request in flight to live', async () => Number(await cell('live', 'in-flight')) >= 1);
  await until('live answering (requests per second and latency)', async () =>
    Number(await cell('live', 'rps')) > 0 && (await cell('live', 'p50')).endsWith('ms'));
  await until('dead failing, retried on live, and ejected', async () =>
    Number(await cell('dead', 'errors')) >= 1 && Number(await cell('dead', 'retries')) + Number(await cell('live', 'retries')) >= 1 &&
    Number(await cell('dead', 'ejections')) >= 1 && (await cell('dead', 'state')) === 'out');
  assert.equal(await cell('live', 'state'), 'up');
  assert.equal(failed, 0, 'every request was answered (the dead upstream\'s were retried on the live one)');
  await page.screenshot({ path: join(outDir, 'gateway-dashboard.png'), fullPage: true });
  assert.deepEqual(problems, []);
  ok = true;
  console.log('ok: the dashboard through the gateway shows each upstream live');
} finally {
  loading = false;
  await load.catch(() => {});
  await close();
  gateway.kill('SIGTERM');
  await server.stop();
  rmSync(work, { recursive: true, force: true });
  if (!ok) process.exitCode = 1;
}
