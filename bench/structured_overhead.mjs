// The cost of structured output's masks: decode tokens/s of 8 concurrent streams, each under a
// different JSON Schema, against 8 unconstrained streams, on the real `hayate serve` (CPU).
// Each stream runs requests back to back for the same time; tokens/s counts completion tokens.
// The grammars are compiled (and cached) by one warm-up request each first, as a server that
// sees a schema again would have them.
//
//   node bench/structured_overhead.mjs build/bin/hayate [MODEL.gguf] [SECONDS=20]
import { startServer } from '../tests/browser/serve.mjs';

const [hayate, model, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg || 20);
const STREAMS = 8;

function schema(i) {
  // Long outputs (lists of short strings and numbers), so that decode dominates the prompt.
  const item = [
    { type: 'string', maxLength: 12 },
    { type: 'integer', minimum: 0, maximum: 100000 },
    { type: 'object', properties: { k: { type: 'string', maxLength: 8 }, v: { type: 'number' } }, required: ['k', 'v'] },
    { enum: ['alpha', 'beta', 'gamma', 'delta'] },
  ][i % 4];
  return {
    type: 'object',
    properties: { [`list${i}`]: { type: 'array', items: item, minItems: 30, maxItems: 40 }, done: { type: 'boolean' } },
    required: [`list${i}`, 'done'],
  };
}

async function once(base, body) {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = await res.json();
  if (res.status !== 200) throw new Error(JSON.stringify(j));
  return j.usage.completion_tokens;
}

async function measure(base, constrained) {
  const end = Date.now() + seconds * 1000;
  let tokens = 0;
  const started = Date.now();
  await Promise.all(Array.from({ length: STREAMS }, async (_, i) => {
    for (let k = 0; Date.now() < end; ++k) {
      const body = { messages: [{ role: 'user', content: 'List things.' }], max_tokens: 256, temperature: 1, seed: 100 * i + k };
      if (constrained) body.response_format = { type: 'json_schema', json_schema: { name: `s${i}`, schema: schema(i) } };
      tokens += await once(base, body);
    }
  }));
  return tokens / ((Date.now() - started) / 1000);
}

const server = await startServer(hayate, model ? ['-m', model] : []);
try {
  for (let i = 0; i < STREAMS; ++i)  // compile each schema once
    await once(server.base, { messages: [{ role: 'user', content: 'x' }], max_tokens: 1,
      response_format: { type: 'json_schema', json_schema: { name: `s${i}`, schema: schema(i) } } });
  const free = await measure(server.base, false);
  const masked = await measure(server.base, true);
  const free2 = await measure(server.base, false);
  const base = (free + free2) / 2;
  console.log(JSON.stringify({ model: model || 'embedded', streams: STREAMS, seconds,
    unconstrained_tok_s: +base.toFixed(1), schema_tok_s: +masked.toFixed(1), ratio: +(masked / base).toFixed(3) }));
} finally {
  await server.stop();
}
