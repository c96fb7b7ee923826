// /v1/ws against the real `hayate serve` (embedded model, API keys on): authentication (query
// token, first message, refused without), origin checks, bad input (malformed JSON, unknown
// types, a 16 MB message, malformed frames, abrupt close mid-stream, 1,000 connections opened and
// dropped), after which no sequence or KV block is left held and the server still answers.
//
//   node --experimental-websocket ws_protocol_test.mjs HAYATE
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { runChecks } from './checks.mjs';
import { startServer } from './serve.mjs';

const [hayate] = process.argv.slice(2);
const KEY = 'sk-hayate-ws-test-key';
// A slow engine step, so that a stop or a drop lands while the answer streams.
const server = await startServer(hayate, ['--api-keys', KEY, '--debug-step-delay-ms', '20', '--max-waiting', '2000',
  '--conversation-max-messages', '2', '--chat-default-max-tokens', '5']);
const port = new URL(server.base).port;
const url = (q = '') => `ws://127.0.0.1:${port}/v1/ws${q}`;
const checks = [];
const check = (name, fn) => checks.push([name, fn]);

// A socket whose messages are awaited one by one.
function open(address) {
  const ws = new WebSocket(address);
  const inbox = [], waiters = [];
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    const w = waiters.shift();
    if (w) w(m);
    else inbox.push(m);
  };
  const closed = new Promise((resolve) => { ws.onclose = (e) => resolve(e.code); });
  const opened = new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('refused')); });
  opened.catch(() => {});  // a socket refused on purpose need not be awaited
  const next = (ms = 20000) => inbox.length ? Promise.resolve(inbox.shift()) : new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message in time')), ms);
    waiters.push((m) => { clearTimeout(t); resolve(m); });
  });
  const until = async (type) => { for (;;) { const m = await next(); if (m.type === type) return m; if (m.type === 'error' && type !== 'error') throw new Error(m.message); } };
  return { ws, next, until, closed, opened, send: (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m)) };
}

// Raw bytes to the port: an HTTP upgrade request with the given headers, then `then`.
function raw(headers, then = Buffer.alloc(0)) {
  return new Promise((resolve) => {
    const s = net.connect(Number(port), '127.0.0.1', () => {
      s.write(`GET /v1/ws${headers.query ?? ''} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
        (headers.origin ? `Origin: ${headers.origin}\r\n` : '') + '\r\n');
      if (then.length) s.write(then);
    });
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('close', () => resolve(got));
    s.on('error', () => {});
    setTimeout(() => s.destroy(), 1500);
  });
}

async function metric(name) {
  const text = await (await fetch(`${server.base}/metrics`)).text();
  const m = text.match(new RegExp(`^${name} (\\S+)`, 'm'));
  return m ? Number(m[1]) : NaN;
}

// Every sequence gone and no KV block held by one (the prefix cache may keep its blocks).
async function settled() {
  for (let i = 0; i < 200; ++i) {
    if (await metric('hayate_running_sequences') === 0 && await metric('hayate_queue_depth') === 0 &&
        await metric('hayate_kv_blocks_active') === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`sequences left: running ${await metric('hayate_running_sequences')}, queued ${await metric('hayate_queue_depth')}, active KV blocks ${await metric('hayate_kv_blocks_active')}`);
}

check('query token: ready, then a streamed answer with done', async () => {
  const c = open(url(`?token=${KEY}`));
  const ready = await c.next();
  assert.equal(ready.type, 'ready');
  assert.equal(ready.model, 'hayate-demo');
  c.send({ type: 'start', content: 'Who is Milo?', max_tokens: 8 });
  const conv = await c.next();
  assert.equal(conv.type, 'conversation');
  assert.equal((await c.next()).type, 'start');
  let text = '', m;
  while ((m = await c.next()).type === 'token') text += m.text;
  assert.equal(m.type, 'done');
  assert.equal(m.finish_reason, 'length');
  assert.equal(m.usage.completion_tokens, 8);
  const stored = await (await fetch(`${server.base}/v1/conversations/${conv.id}`, { headers: { Authorization: `Bearer ${KEY}` } })).json();
  assert.deepEqual(stored.messages.map((x) => x.role), ['user', 'assistant']);
  assert.equal(stored.messages[1].content, text);
  c.ws.close();
});

check('first-message auth; a wrong key or no auth is refused with 1008', async () => {
  const good = open(url());
  await good.opened;
  good.send({ type: 'auth', key: KEY });
  assert.equal((await good.next()).type, 'ready');
  good.ws.close();
  const wrong = open(url());
  await wrong.opened;
  wrong.send({ type: 'auth', key: 'sk-not-a-key-at-all' });
  const e = await wrong.next();
  assert.equal(e.type, 'error');
  assert.equal(e.code, 'invalid_api_key');
  assert.equal(await wrong.closed, 1008);
  const none = open(url());
  await none.opened;
  none.send({ type: 'start', content: 'hi' });
  assert.equal((await none.next()).code, 'invalid_api_key');
  assert.equal(await none.closed, 1008);
});

check('a wrong query token is refused before the upgrade (401)', async () => {
  const reply = await raw({ query: '?token=sk-wrong-token-here' });
  assert.match(reply, /^HTTP\/1\.1 401/);
  assert.match(reply, /invalid_api_key/);
});

check('a foreign origin is refused (403); the server\'s own is let through', async () => {
  assert.match(await raw({ origin: 'http://evil.example', query: `?token=${KEY}` }), /^HTTP\/1\.1 403/);
  assert.match(await raw({ origin: `http://127.0.0.1:${port}`, query: `?token=${KEY}` }), /^HTTP\/1\.1 101/);
});

check('malformed JSON and unknown types get an error and the socket stays usable', async () => {
  const c = open(url(`?token=${KEY}`));
  await c.until('ready');
  c.send('{not json');
  assert.equal((await c.next()).code, 'invalid_message');
  c.send({ type: 'launch' });
  const u = await c.next();
  assert.equal(u.code, 'unknown_type');
  assert.match(u.message, /launch/);
  c.send({ type: 'start', content: 'Who is Milo?', max_tokens: 2, keep: -1 });
  assert.match((await c.until('error')).message, /keep/);
  c.send({ type: 'start', content: 'Who is Milo?', max_tokens: 2 });
  assert.equal((await c.until('done')).finish_reason, 'length');
  c.ws.close();
});

check('stop mid-answer ends it with finish_reason stopped and keeps what streamed', async () => {
  const c = open(url(`?token=${KEY}`));
  await c.until('ready');
  c.send({ type: 'start', content: 'Tell me a short story about Pip the fox.', max_tokens: 400 });
  const conv = await c.until('conversation');
  await c.until('token');
  c.send({ type: 'stop' });
  const done = await c.until('done');
  assert.equal(done.finish_reason, 'stopped');
  await settled();
  const stored = await (await fetch(`${server.base}/v1/conversations/${conv.id}`, { headers: { Authorization: `Bearer ${KEY}` } })).json();
  assert.equal(stored.messages.length, 2);
  c.ws.close();
});

check('a 16 MB message closes the socket for its size; the server still answers', async () => {
  const c = open(url(`?token=${KEY}`));
  await c.until('ready');
  c.send('x'.repeat(16 << 20));
  // 1009 when the client reads the close frame; 1006 when it was still sending and the
  // connection's end overtook it. Either way the server says why in its log.
  assert.ok([1009, 1006].includes(await c.closed));
  for (let i = 0; i < 50 && !server.log().includes('a message over ws_max_message_bytes'); ++i)
    await new Promise((r) => setTimeout(r, 100));
  assert.match(server.log(), /a message over ws_max_message_bytes \(1048576\); closing/);
  assert.equal((await fetch(`${server.base}/health`)).status, 200);
});

check('malformed frames close the socket; the server still answers', async () => {
  // An unmasked client frame, a frame with reserved bits, and random bytes.
  for (const bytes of [Buffer.from([0x81, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f]), Buffer.from([0xf1, 0x80, 0, 0, 0, 0]), randomBytes(4096)]) {
    const reply = await raw({ query: `?token=${KEY}` }, bytes);
    assert.match(reply, /^HTTP\/1\.1 101/);
  }
  assert.equal((await fetch(`${server.base}/health`)).status, 200);
});

check('abrupt close mid-stream cancels the sequence', async () => {
  const c = open(url(`?token=${KEY}`));
  await c.until('ready');
  c.send({ type: 'start', content: 'Tell me about the towns.', max_tokens: 400 });
  await c.until('token');
  assert.ok(await metric('hayate_running_sequences') >= 1);
  c.ws.close();  // no stop: the socket just goes
  await settled();
});

check('1,000 connections opened and dropped, some mid-answer: nothing leaks', async () => {
  // A TCP connection that sends the upgrade and goes, before or after the server's 101.
  const drop = (afterReply) => new Promise((resolve) => {
    const s = net.connect(Number(port), '127.0.0.1', () => {
      s.write(`GET /v1/ws?token=${KEY} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      if (!afterReply) s.destroy();
    });
    s.on('data', () => s.destroy());
    s.on('close', resolve);
    s.on('error', () => {});
  });
  for (let batch = 0; batch < 10; ++batch) {
    await Promise.all(Array.from({ length: 100 }, async (_, i) => {
      if (i % 10) return drop(i % 2 === 0);
      const c = open(url(`?token=${KEY}`));  // one in ten asks for an answer and drops while it streams
      try {
        await c.until('ready');
        c.send({ type: 'start', content: 'Who is Milo?', max_tokens: 200 });
        await c.until('start');
      } catch {}
      c.ws.close();
      await c.closed;
    }));
    if (process.env.VERBOSE) console.log(`batch ${batch} done`);
  }
  await settled();
  assert.equal((await fetch(`${server.base}/health`)).status, 200);
  const c = open(url(`?token=${KEY}`));
  await c.until('ready');
  c.send({ type: 'start', content: 'Who is Milo?', max_tokens: 3 });
  assert.equal((await c.until('done')).finish_reason, 'length');
  c.ws.close();
});

check("the server's defaults and message limit apply to a continued conversation", async () => {
  const c = open(url(`?token=${KEY}`));
  await c.until('ready');
  c.send({ type: 'start', content: 'Who is Milo?' });
  const conv = await c.until('conversation');
  assert.equal((await c.until('start')).dropped, 0);
  assert.equal((await c.until('done')).usage.completion_tokens, 5, 'chat_default_max_tokens when none is given');
  c.send({ type: 'start', conversation_id: conv.id, content: 'And Lina?' });
  assert.equal((await c.until('start')).dropped, 1, 'three messages, two sent (conversation_max_messages)');
  await c.until('done');
  c.send({ type: 'start', conversation_id: 'conv-unknown', content: 'x' });
  assert.match((await c.until('error')).message, /conv-unknown/);
  c.send({ type: 'start', conversation_id: conv.id, keep: 1 });  // regenerate the first answer
  assert.equal((await c.until('start')).dropped, 0);
  await c.until('done');
  const stored = await (await fetch(`${server.base}/v1/conversations/${conv.id}`, { headers: { Authorization: `Bearer ${KEY}` } })).json();
  assert.deepEqual(stored.messages.map((x) => x.role), ['user', 'assistant']);
  c.ws.close();
});

check('a plain GET of /v1/ws is 426', async () => {
  const r = await fetch(`${server.base}/v1/ws`);
  assert.equal(r.status, 426);
});

let failed = 0;
try {
  failed = await runChecks(checks);
} finally {
  await server.stop();
}
if (failed) {
  console.log(server.log().split('\n').slice(-40).join('\n'));
  process.exit(1);
}
console.log(`all checks passed`);
