// Two real servers sharing one conversation store on a real Redis or PostgreSQL (issue 16): a chat
// begun in the page on server A is found in server B's list, opened there and continued, and A
// reads what B added. Screenshots go to OUTDIR.
//
//   node shared_store_test.mjs redis|postgres HAYATE OUTDIR
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { runChecksThenExit } from './checks.mjs';
import { startServer } from './serve.mjs';
import { startPostgres, startRedis } from './services.mjs';

const [kind, hayate, outDir] = process.argv.slice(2);
assert.ok(kind === 'redis' || kind === 'postgres', 'the first argument is redis or postgres');
mkdirSync(outDir, { recursive: true });
const work = mkdtempSync(join(tmpdir(), `hayate-shared-${kind}-`));
const store = kind === 'redis' ? await startRedis() : await startPostgres();
const common = ['--conversations-db', store.url, '--chat-default-max-tokens', '16'];
const a = await startServer(hayate, common);
const b = await startServer(hayate, common);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
assert.ok(existsSync(executablePath), `${executablePath} not found: install Debian's chromium (scripts/setup.sh)`);
const browser = await chromium.launchPersistentContext(join(work, 'profile'), {
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
  viewport: { width: 1280, height: 900 },
});
const page = await browser.newPage();
const problems = [];
page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
page.on('pageerror', (e) => problems.push(e.message));

const checks = [];
const check = (name, fn) => checks.push([name, fn]);
const shot = (name) => page.screenshot({ path: join(outDir, name), fullPage: true });
const messages = () => page.locator('article.msg').count();
let conversationId = '';

async function send(text) {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.getByRole('button', { name: 'Send', exact: true }).waitFor({ timeout: 30000 });
}

check(`a chat on server A is kept in ${kind}`, async () => {
  await page.goto(`${a.base}/`);
  await page.getByText('Model: hayate-demo').waitFor();
  await send(`Who is Milo? (${kind})`);
  await page.waitForURL(/#\/chat\/conv-/);
  conversationId = page.url().split('/').pop();
  const stored = await (await fetch(`${a.base}/v1/conversations/${conversationId}`)).json();
  assert.deepEqual(stored.messages.map((m) => m.role), ['user', 'assistant']);
});

check('a second server sharing the store finds the conversation', async () => {
  await page.goto(`${b.base}/`);
  await page.getByRole('link', { name: `Who is Milo? (${kind})` }).click();
  await page.waitForFunction(() => document.querySelectorAll('article.msg').length === 2);
  assert.equal(page.url().split('/').pop(), conversationId);
  await send('And the towns?');
  assert.equal(await messages(), 4);
  await shot(`shared-${kind}.png`);
  const stored = await (await fetch(`${a.base}/v1/conversations/${conversationId}`)).json();
  assert.equal(stored.messages.length, 4, 'server A reads what server B added');
  assert.equal(stored.messages[2].content, 'And the towns?');
});

check('a delete on one server is seen by the other', async () => {
  const r = await fetch(`${b.base}/v1/conversations/${conversationId}`, { method: 'DELETE' });
  assert.equal(r.status, 200);
  assert.equal((await fetch(`${a.base}/v1/conversations/${conversationId}`)).status, 404);
});

check('no script errors', async () => {
  assert.deepEqual(problems, []);
});

await runChecksThenExit(checks, (i) => shot(`failed-${kind}-${i}.png`), async () => {
  await browser.close();
  await a.stop();
  await b.stop();
  await store.stop();
  rmSync(work, { recursive: true, force: true });
}, outDir);
