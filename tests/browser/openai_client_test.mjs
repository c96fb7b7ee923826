// The official `openai` npm client against the real `hayate serve` (embedded model), as a new
// user would call it: chat, streaming with usage, completions, embeddings (float and base64),
// models list and retrieve, n, seed, logprobs, stop, json_object, json_schema, tools (streamed
// and not), responses (create, stream, retrieve, previous_response_id, delete), rerank, and the
// errors as APIError with the right status (404 unknown model, 400 bad parameters, 401 wrong key,
// 429 over the rate limit).
//
//   node openai_client_test.mjs HAYATE
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer } from './serve.mjs';

const [hayate] = process.argv.slice(2);
const KEY = 'sk-hayate-test-key';
const server = await startServer(hayate, ['--api-keys', KEY, '--rate-limit-rpm', '60', '--rate-limit-burst', '200']);
const client = new OpenAI({ apiKey: KEY, baseURL: `${server.base}/v1`, maxRetries: 0 });
const model = 'hayate-demo';
const user = [{ role: 'user', content: 'Who is Milo?' }];
const checks = [];
const check = (name, fn) => checks.push([name, fn]);

check('chat', async () => {
  const r = await client.chat.completions.create({ model, messages: user, max_tokens: 8, seed: 1 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(r.usage.completion_tokens > 0);
});

check('chat stream with usage', async () => {
  const stream = await client.chat.completions.create({ model, messages: user, max_tokens: 6, stream: true,
    stream_options: { include_usage: true } });
  let text = '', usage = null, finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta.content ?? '';
      finish = c.finish_reason ?? finish;
    }
  }
  assert.ok(text.length > 0);
  assert.equal(usage.completion_tokens, 6);
  assert.equal(finish, 'length');
});

check('completions, n, seed, logprobs, stop', async () => {
  const a = await client.completions.create({ model, prompt: 'Milo is', max_tokens: 8, n: 2, seed: 7, logprobs: 2, stop: ['\n'] });
  const b = await client.completions.create({ model, prompt: 'Milo is', max_tokens: 8, n: 2, seed: 7, logprobs: 2, stop: ['\n'] });
  assert.equal(a.choices.length, 2);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text), 'the same seed gives the same text');
  assert.ok(a.choices[0].logprobs.tokens.length > 0);
  for (const c of a.choices) assert.ok(!c.text.includes('\n'));
  const chat = await client.chat.completions.create({ model, messages: user, max_tokens: 3, logprobs: true, top_logprobs: 2 });
  assert.equal(chat.choices[0].logprobs.content[0].top_logprobs.length, 2);
});

check('embeddings float and base64', async () => {
  const f = await client.embeddings.create({ model, input: ['a cat', 'a dog'] });
  assert.equal(f.data.length, 2);
  assert.ok(f.data[0].embedding.length > 0);
  const b = await client.embeddings.create({ model, input: 'a cat', encoding_format: 'base64' });
  assert.equal(typeof b.data[0].embedding, 'string');
  const floats = new Float32Array(Uint8Array.from(Buffer.from(b.data[0].embedding, 'base64')).buffer);
  assert.ok(Math.abs(floats[0] - f.data[0].embedding[0]) < 1e-5);
  // The client asks for base64 by default and decodes it.
  const d = await client.embeddings.create({ model, input: 'a cat' });
  assert.ok(Math.abs(d.data[0].embedding[0] - f.data[0].embedding[0]) < 1e-5);
});

check('models list and retrieve', async () => {
  const list = await client.models.list();
  assert.equal(list.data[0].id, model);
  const m = await client.models.retrieve(model);
  assert.equal(m.id, model);
});

check('json_object and json_schema', async () => {
  const o = await client.chat.completions.create({ model, messages: user, max_tokens: 60, seed: 2,
    response_format: { type: "json_object" } });
  assert.ok(o.choices[0].message.content.startsWith('{'));
  const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 10 }, age: { type: 'integer', minimum: 0, maximum: 120 } },
    required: ['name', 'age'], additionalProperties: false };
  const s = await client.chat.completions.create({ model, messages: user, max_tokens: 80, seed: 3,
    response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema } } });
  const v = JSON.parse(s.choices[0].message.content);
  assert.equal(typeof v.name, 'string');
  assert.ok(Number.isInteger(v.age) && v.age >= 0 && v.age <= 120);
});

const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'] } } }];

check('tools, not streamed', async () => {
  const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Weather in Paris?' }],
    tools, tool_choice: 'required', max_tokens: 80, seed: 4 });
  const c = r.choices[0];
  assert.equal(c.finish_reason, 'tool_calls');
  assert.equal(c.message.tool_calls[0].function.name, 'get_weather');
  assert.equal(typeof JSON.parse(c.message.tool_calls[0].function.arguments).city, 'string');
});

check('tools, streamed (the SDK assembles the deltas)', async () => {
  const runner = client.beta.chat.completions.stream({ model, messages: [{ role: 'user', content: 'Weather in Oslo?' }],
    tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 80, seed: 5 });
  const final = await runner.finalChatCompletion();
  const call = final.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  assert.ok(call.id.startsWith('call_'));
  assert.equal(typeof JSON.parse(call.function.arguments).city, 'string');
  assert.equal(final.choices[0].finish_reason, 'tool_calls');
});

check('responses: create, stream, retrieve with previous_response_id, delete', async () => {
  const first = await client.responses.create({ model, input: 'Who is Milo?', instructions: 'Answer briefly.', max_output_tokens: 12 });
  assert.equal(first.object, 'response');
  assert.ok(first.output_text.length > 0);
  const stream = await client.responses.create({ model, input: 'And then?', previous_response_id: first.id, max_output_tokens: 8, stream: true });
  const types = [];
  let completed = null, deltas = '';
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'response.output_text.delta') deltas += event.delta;
    if (event.type === 'response.completed' || event.type === 'response.incomplete') completed = event.response;
  }
  assert.equal(types[0], 'response.created');
  assert.ok(types.includes('response.output_text.delta'));
  assert.equal(completed.previous_response_id, first.id);
  assert.equal(completed.output[0].content[0].text, deltas);
  const again = await client.responses.retrieve(completed.id);
  assert.equal(again.id, completed.id);
  assert.equal(again.previous_response_id, first.id);
  await client.responses.del(first.id);
  await assert.rejects(client.responses.retrieve(first.id), (e) => e instanceof OpenAI.APIError && e.status === 404);
});

check('responses with a required function call', async () => {
  const r = await client.responses.create({ model, input: 'Weather in Rome?', max_output_tokens: 80,
    tools: [{ type: 'function', name: 'get_weather', parameters: tools[0].function.parameters, strict: true }], tool_choice: 'required' });
  const call = r.output.find((o) => o.type === 'function_call');
  assert.equal(call.name, 'get_weather');
  assert.equal(typeof JSON.parse(call.arguments).city, 'string');
});

check('rerank (cross-scoring)', async () => {
  const res = await fetch(`${server.base}/v1/rerank`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ query: 'Where does Tobin live?', documents: ['Tobin lives in Ellowmere.', 'Buns are smoky.'] }) });
  const j = await res.json();
  assert.equal(res.status, 200);
  assert.equal(j.results.length, 2);
  assert.ok(j.results[0].relevance_score >= j.results[1].relevance_score);
});

check('errors are APIError with the right status', async () => {
  const status = async (p) => { try { await p; } catch (e) { assert.ok(e instanceof OpenAI.APIError, String(e)); return e.status; } return 200; };
  assert.equal(await status(client.chat.completions.create({ model: 'gpt-9', messages: user })), 404);
  assert.equal(await status(client.chat.completions.create({ model, messages: user, temperature: 7 })), 400);
  assert.equal(await status(client.chat.completions.create({ model, messages: user,
    response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', patternProperties: {} } } } })), 400);
  const stranger = new OpenAI({ apiKey: 'sk-wrong-key-000', baseURL: `${server.base}/v1`, maxRetries: 0 });
  assert.equal(await status(stranger.models.list()), 401);
});

let failed = 0;
try {
  for (const [name, fn] of checks) {
    try {
      await fn();
      console.log(`ok   ${name}`);
    } catch (e) {
      ++failed;
      console.log(`FAIL ${name}: ${e.stack || e}`);
    }
  }
} finally {
  await server.stop();
}

// Overload: a server that allows 1 request per minute answers the second with 429.
const limited = await startServer(hayate, ['--rate-limit-rpm', '1', '--rate-limit-burst', '1']);
try {
  const c = new OpenAI({ apiKey: 'none', baseURL: `${limited.base}/v1`, maxRetries: 0 });
  await c.models.list();
  await assert.rejects(c.models.list(), (e) => e instanceof OpenAI.RateLimitError && e.status === 429);
  console.log('ok   429 over the rate limit');
} catch (e) {
  ++failed;
  console.log(`FAIL 429 over the rate limit: ${e.stack || e}`);
} finally {
  await limited.stop();
}
console.log(`${checks.length + 1 - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
