// The official `openai` npm client sends an image by data URL to the real `hayate serve --mmproj`
// (a tiny random LLaVA from `hayate synth --mmproj`) and gets text back, with usage counting the
// image's tokens; streamed too; a corrupt image is an APIError 400 naming the part (issue 19).
//
//   node openai_vision_test.mjs HAYATE IMAGE.jpg
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startServer } from './serve.mjs';

const [hayate, imagePath] = process.argv.slice(2);
const IMAGE_TOKENS = 16; // (56 / 14)^2 patches of the synthetic tower
const dir = mkdtempSync(join(tmpdir(), 'hayate-openai-vision-'));
const lm = join(dir, 'llava.gguf'), mmproj = join(dir, 'mmproj.gguf');
execFileSync(hayate, ['synth', '-o', lm, '--n-embd', '64', '--n-layer', '2', '--n-head', '4', '--n-head-kv', '2',
  '--n-ff', '128', '--mmproj', mmproj], { stdio: 'ignore' });
const server = await startServer(hayate, ['-m', lm, '--mmproj', mmproj, '--max-body-bytes', '4194304']);
const client = new OpenAI({ apiKey: 'unused', baseURL: `${server.base}/v1`, maxRetries: 0 });
const url = `data:image/jpeg;base64,${readFileSync(imagePath).toString('base64')}`;
const ask = (parts, extra = {}) => client.chat.completions.create({ model: 'llava', max_tokens: 6, temperature: 0,
  messages: [{ role: 'user', content: parts }], ...extra });

let failed = 0;
const check = async (name, fn) => {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.stack}`);
  }
};

try {
  await check('image_url by data URL gets text, usage counts the image tokens', async () => {
    const withImage = await ask([{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url } }]);
    const textOnly = await ask([{ type: 'text', text: 'what is this?' }]);
    assert.equal(withImage.object, 'chat.completion');
    assert.equal(typeof withImage.choices[0].message.content, 'string');
    assert.ok(withImage.choices[0].message.content.length > 0);
    assert.equal(withImage.usage.completion_tokens, 6);
    assert.equal(withImage.usage.prompt_tokens, textOnly.usage.prompt_tokens + IMAGE_TOKENS);
  });
  await check('streamed, the same text', async () => {
    const parts = [{ type: 'image_url', image_url: { url, detail: 'auto' } }, { type: 'text', text: 'describe' }];
    const whole = await ask(parts);
    const stream = await ask(parts, { stream: true, stream_options: { include_usage: true } });
    let text = '', usage = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) text += c.delta.content ?? '';
    }
    assert.equal(text, whole.choices[0].message.content);
    assert.equal(usage.prompt_tokens, whole.usage.prompt_tokens);
  });
  await check('a corrupt image is a 400 naming the part', async () => {
    const bad = 'data:image/jpeg;base64,' + readFileSync(imagePath).subarray(0, 100).toString('base64');
    await assert.rejects(ask([{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: bad } }]), (e) => {
      assert.equal(e.status, 400);
      assert.equal(e.param, 'messages[0].content[1].image_url.url');
      return true;
    });
  });
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
if (failed) {
  console.log(`${failed} check(s) failed`);
  process.exit(1);
}
console.log('all checks passed');
