// Browser test of `hayate report`: builds the HTML page with the real program from the sample
// results, opens it over file:// in headless Debian Chromium and checks that it loads without
// console or page errors, that every chart is a non-empty SVG with drawn shapes, that axis
// titles and legends are present as text, and that text from the files stayed text. Saves a
// full-page screenshot for a person to look at.
//
// usage: node report_page_test.mjs HAYATE_BIN SAMPLE_DIR OUT_DIR [RESULT.json ...]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { consoleErrorsOf, launchChromium } from './chromium.mjs';

const [hayate, sampleDir, outDir, ...extra] = process.argv.slice(2);
if (!hayate || !sampleDir || !outDir) {
  console.error('usage: node report_page_test.mjs HAYATE_BIN SAMPLE_DIR OUT_DIR [RESULT.json ...]');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const inputs = readdirSync(sampleDir).filter((f) => f.endsWith('.json')).sort().map((f) => join(sampleDir, f));
inputs.push(...extra);
const htmlPath = resolve(outDir, 'report.html');
execFileSync(hayate, ['report', ...inputs, '--html', htmlPath, '--md', resolve(outDir, 'report.md')], {
  stdio: 'inherit',
});

const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
};

const { browser, close } = await launchChromium();
try {
  const page = await browser.newPage();
  const consoleErrors = consoleErrorsOf(page);
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('dialog', async (d) => {
    consoleErrors.push(`dialog opened (injected script ran?): ${d.message()}`);
    await d.dismiss();
  });
  await page.goto(pathToFileURL(htmlPath).href, { waitUntil: 'load' });

  const facts = await page.evaluate(() => {
    const charts = [...document.querySelectorAll('svg.chart')].map((svg) => {
      const box = svg.getBoundingClientRect();
      const drawn = [...svg.querySelectorAll('path.series, rect')].filter((el) => {
        const b = el.getBoundingClientRect();
        return b.width > 0 || b.height > 0;
      }).length;
      return {
        title: svg.querySelector('text.title')?.textContent ?? '',
        width: box.width,
        height: box.height,
        drawn,
        axisLabels: [...svg.querySelectorAll('text.axis-label')].map((t) => t.textContent),
        ticks: svg.querySelectorAll('text.tick').length,
        legends: svg.querySelectorAll('text.legend').length,
      };
    });
    return {
      charts,
      scripts: document.querySelectorAll('script').length,
      images: document.querySelectorAll('img').length,
      bodyText: document.body.innerText,
    };
  });

  check(consoleErrors.length === 0, `console or page errors: ${consoleErrors.join('; ')}`);
  const foreign = requests.filter((u) => !u.startsWith('file://'));
  check(foreign.length === 0, `the page fetched something: ${foreign.join(', ')}`);
  check(facts.scripts === 0, `the page has ${facts.scripts} <script> elements (injected from a file?)`);
  check(facts.images === 0, `the page has ${facts.images} <img> elements (injected from a file?)`);
  check(facts.charts.length >= 9, `expected at least 9 charts, found ${facts.charts.length}`);
  for (const c of facts.charts) {
    check(c.width > 300 && c.height > 200, `chart "${c.title}" is ${c.width}x${c.height} px`);
    check(c.drawn > 0, `chart "${c.title}" draws no lines or bars`);
    check(c.ticks >= 2, `chart "${c.title}" has ${c.ticks} tick labels`);
    check(c.legends >= 1, `chart "${c.title}" has no legend`);
    check(c.axisLabels.some((t) => t.length > 0), `chart "${c.title}" has no axis title`);
  }
  const titles = facts.charts.map((c) => c.title).join(' | ');
  for (const want of ['Output throughput against concurrency', 'Time to first token', 'TTFT distribution (CDF)',
    'Prompt processing speed (pp)', 'Generation speed (tg)', 'Memory per configuration']) {
    check(titles.includes(want), `no chart titled "${want}" (have: ${titles})`);
  }
  const labels = facts.charts.flatMap((c) => c.axisLabels);
  for (const want of ['concurrent requests', 'output tokens/s', 'TTFT (ms)', 'share of requests',
    'tokens/s (mean ± stddev)']) {
    check(labels.includes(want), `no axis titled "${want}"`);
  }
  check(facts.bodyText.includes('Which configuration for which job'), 'no recommendation section');
  check(facts.bodyText.includes('<script>alert("pwned")</script>'), 'the hostile label is not shown as text');

  const shot = resolve(outDir, 'report.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`report page: ${facts.charts.length} charts; screenshot ${shot}`);
  for (const c of facts.charts) console.log(`  ${c.title}: ${c.drawn} shapes, ${c.ticks} ticks, ${c.legends} legend items`);
} finally {
  await close();
}

if (failures.length) {
  for (const f of failures) console.error(`FAIL: ${f}`);
  process.exit(1);
}
console.log('report page: all checks passed');
