// Structured output against the real `hayate serve`, checked by validators that are not ours:
// 50 generated JSON Schemas (nested, with enums, arrays, ranges, anyOf, $defs) x 20 generations
// each (1,000 in all) per model, every one parsed by JSON.parse and validated by Ajv; and GBNF
// grammars (arithmetic, CSV, a small programming language) whose outputs JavaScript's own parser
// (arithmetic, the language, translated) or a CSV reader accepts; and tool_choice "required"
// calls (random-weight model) whose arguments Ajv checks against their function's schema. Run for
// the embedded model and a random-weight model (`hayate synth` with the 32k-token Llama
// SentencePiece vocabulary).
//
//   node structured_test.mjs HAYATE [SHARED_VOCAB_DIR]
import Ajv from 'ajv';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './serve.mjs';

const [hayate, vocabDir] = process.argv.slice(2);
const PER_SCHEMA = 20;

// A seeded generator, so a failure names a schema that can be made again.
function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
}

function makeSchema(seed) {
  const r = rng(seed);
  const pick = (a) => a[Math.floor(r() * a.length)];
  const leaf = () => pick([
    () => ({ type: 'string', maxLength: 1 + Math.floor(r() * 6) }),
    () => ({ type: 'string', minLength: 1, maxLength: 4 }),
    () => ({ type: 'integer', minimum: -20 + Math.floor(r() * 20), maximum: Math.floor(r() * 500) }),
    () => ({ type: 'integer' }),
    () => ({ type: 'number' }),
    () => ({ type: 'boolean' }),
    () => ({ enum: ['red', 'green', 'blue', 7, null].slice(0, 2 + Math.floor(r() * 3)) }),
    () => ({ const: 'fixed' }),
    () => ({ type: ['string', 'null'], maxLength: 3 }),
    () => ({ anyOf: [{ type: 'integer', minimum: 0, maximum: 9 }, { type: 'string', maxLength: 2 }] }),
    () => ({ type: 'string', pattern: '^[a-z]{2,4}-[0-9]{2}$' }),
  ])();
  const node = (depth) => {
    const kind = depth >= 2 ? 0 : Math.floor(r() * 3);
    if (kind === 0) return leaf();
    if (kind === 1) return { type: 'array', items: node(depth + 1), minItems: Math.floor(r() * 2), maxItems: 1 + Math.floor(r() * 2) };
    return object(depth + 1);
  };
  const object = (depth) => {
    const n = 1 + Math.floor(r() * 3);
    const properties = {};
    const required = [];
    for (let i = 0; i < n; ++i) {
      const name = pick(['id', 'name', 'tags', 'value', 'kind', 'ok', 'items', 'note']) + i;
      properties[name] = node(depth);
      if (r() < 0.6) required.push(name);
    }
    return { type: 'object', properties, required, additionalProperties: false };
  };
  const schema = object(0);
  if (seed % 5 === 0) {  // a $ref to $defs, used twice
    schema.$defs = { point: { type: 'object', properties: { x: { type: 'integer', minimum: 0, maximum: 99 } }, required: ['x'] } };
    schema.properties.from = { $ref: '#/$defs/point' };
    schema.properties.to = { $ref: '#/$defs/point' };
    schema.required.push('from');
  }
  return schema;
}

async function post(base, path, body) {
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json();
  assert.equal(res.status, 200, JSON.stringify(json));
  return json;
}

async function pool(tasks, width) {
  const results = [];
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  }));
  return results;
}

async function schemas(base, label) {
  const ajv = new Ajv({ strict: false, allErrors: true });
  let checked = 0;
  const started = Date.now();
  await pool(Array.from({ length: 50 }, (_, i) => async () => {
    const schema = makeSchema(1000 + i);
    const validate = ajv.compile(schema);
    const out = await post(base, '/v1/chat/completions', {
      messages: [{ role: 'user', content: 'Fill in this record as JSON.' }],
      n: PER_SCHEMA, max_tokens: 450, temperature: 1, seed: i,
      response_format: { type: 'json_schema', json_schema: { name: `s${i}`, strict: true, schema } },
    });
    assert.equal(out.choices.length, PER_SCHEMA);
    for (const c of out.choices) {
      const where = `${label} schema ${i} ${JSON.stringify(schema)}\noutput ${c.message.content}`;
      assert.equal(c.finish_reason, 'stop', where);
      let value;
      assert.doesNotThrow(() => { value = JSON.parse(c.message.content); }, where);
      assert.ok(validate(value), `${where}\n${ajv.errorsText(validate.errors)}`);
      ++checked;
    }
  }), 4);
  assert.equal(checked, 50 * PER_SCHEMA);
  console.log(`${label}: ${checked} generations under 50 schemas valid (Ajv) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

const kGrammars = {
  arithmetic: {
    // Parentheses nest two levels deep, so that a random model's output ends.
    gbnf: 'root ::= expr\nexpr ::= term ( [-+] term ){0,3}\nterm ::= factor ( [*/] factor ){0,2}\n' +
      'factor ::= num | "(" inner ")"\ninner ::= num ( [-+*/] ( num | "(" num [-+*/] num ")" ) ){0,3}\nnum ::= [1-9] [0-9]{0,2}',
    // JavaScript parses arithmetic: a syntax error throws.
    check: (t) => { new Function(`return (${t});`); },
  },
  csv: {
    gbnf: 'root ::= row ( "\\n" row ){1,3}\nrow ::= cell ( "," cell ){2}\ncell ::= [a-z0-9]{1,5} | "\\"" [a-z ,]{0,6} "\\""',
    check: (t) => {
      const rows = t.split('\n');
      const cell = '(?:[a-z0-9]{1,5}|"[a-z ,]{0,6}")';
      for (const row of rows) assert.match(row, new RegExp(`^${cell},${cell},${cell}$`));
    },
  },
  language: {
    // let x = e; print(e); while (e) { ... } over integers and names: translated to JavaScript
    // (`let` kept; print -> void) and parsed by it.
    gbnf: 'root ::= stmt{1,3}\nstmt ::= simple | "while (" expr ") { " simple{0,2} "}"\n' +
      'simple ::= "let " name " = " expr ";" | "print(" expr ");"\n' +
      'expr ::= atom ( " " [-+*<] " " atom ){0,2}\natom ::= name | [0-9]{1,3} | "(" name " + " [0-9] ")"\n' +
      'name ::= [a-z] [a-z0-9]{0,3}',
    check: (t) => { new Function(`const print = () => {};\n${t.replace(/let ([a-z][a-z0-9]*) =/g, '$1 =')}`); },
  },
};

async function grammars(base, label) {
  for (const [name, g] of Object.entries(kGrammars)) {
    const out = await post(base, '/v1/completions', { prompt: 'Write one:', n: 16, max_tokens: 200, temperature: 1, seed: 3, grammar: g.gbnf });
    for (const c of out.choices) {
      assert.equal(c.finish_reason, 'stop', `${label} ${name}: ${c.text}`);
      assert.doesNotThrow(() => g.check(c.text), `${label} ${name}: ${JSON.stringify(c.text)}`);
    }
    console.log(`${label}: ${out.choices.length} ${name} outputs accepted`);
  }
}

// tool_choice "required": every choice is a call of a declared function whose arguments its
// parameters schema accepts (Ajv), 60 per model.
async function toolCalls(base, label) {
  const ajv = new Ajv({ strict: false });
  const tools = [
    { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 10 },
      unit: { enum: ['c', 'f'] } }, required: ['city'], additionalProperties: false } },
    { name: 'add', parameters: { type: 'object', properties: { a: { type: 'integer', minimum: -9, maximum: 99 },
      b: { type: 'number' } }, required: ['a', 'b'], additionalProperties: false } },
    { name: 'tag', parameters: { type: 'object', properties: { tags: { type: 'array', items: { type: 'string', maxLength: 4 },
      maxItems: 3 } }, required: ['tags'], additionalProperties: false } },
  ];
  const validators = Object.fromEntries(tools.map((t) => [t.name, ajv.compile(t.parameters)]));
  let calls = 0;
  for (let k = 0; k < 4; ++k) {
    const out = await post(base, '/v1/chat/completions', {
      messages: [{ role: 'user', content: 'Use a tool.' }], n: 15, max_tokens: 200, temperature: 1, seed: 50 + k,
      tools: tools.map((t) => ({ type: 'function', function: t })), tool_choice: 'required', parallel_tool_calls: k % 2 === 0,
    });
    for (const c of out.choices) {
      const where = `${label}: ${JSON.stringify(c.message)}`;
      assert.equal(c.finish_reason, 'tool_calls', where);
      assert.ok(c.message.tool_calls.length >= 1, where);
      for (const call of c.message.tool_calls) {
        const validate = validators[call.function.name];
        assert.ok(validate, `undeclared function: ${where}`);
        assert.ok(validate(JSON.parse(call.function.arguments)), `${where}\n${ajv.errorsText(validate.errors)}`);
      }
      ++calls;
    }
  }
  console.log(`${label}: ${calls} required tool calls valid for their functions' schemas (Ajv)`);
}

async function run(label, args, tools) {
  const server = await startServer(hayate, ['--max-n', String(PER_SCHEMA), ...args]);
  try {
    await schemas(server.base, label);
    await grammars(server.base, label);
    // (The embedded model's 512-token context cannot hold three tools' descriptions and a call;
    // its tool calls are checked by the conformance suite and the openai client test.)
    if (tools) await toolCalls(server.base, label);
  } finally {
    await server.stop();
  }
}

await run('embedded model', [], false);
const dir = mkdtempSync(join(tmpdir(), 'hayate-structured-'));
const model = join(dir, 'random.gguf');
const synth = ['synth', '-o', model, '--n-embd', '64', '--n-layer', '2', '--n-head', '4', '--n-head-kv', '2', '--n-ff', '128', '--type', 'q8_0'];
if (vocabDir) synth.push('--vocab-from', join(vocabDir, 'ggml-vocab-llama-spm.gguf'));
execFileSync(hayate, synth);
await run('random-weight model', ['-m', model], true);
console.log('structured output: all passed');
