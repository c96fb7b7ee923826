// Browser test of issue 23's report from a real run: bench/programme.sh serves the embedded
// model on the CPU with small counts (seed ladder, long story, retention chat), writes the
// report, and headless Debian Chromium opens it: no console errors, every chart drawn, the
// Pareto charts and the flowchart present (two questions, three answers, four arrows, all with
// a size on the page), the matrix and the use-case picks filled, the missing GPU said. Keeps a
// full-page screenshot.
//
// usage: node report_programme_test.mjs HAYATE_BIN PROGRAMME_SH OUT_DIR
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { consoleErrorsOf, launchChromium } from './chromium.mjs';

const [hayate, programme, outDir] = process.argv.slice(2);
if (!hayate || !programme || !outDir) {
  console.error('usage: node report_programme_test.mjs HAYATE_BIN PROGRAMME_SH OUT_DIR');
  process.exit(2);
}
const runDir = resolve(outDir, 'programme');
rmSync(runDir, { recursive: true, force: true });
mkdirSync(runDir, { recursive: true });
execFileSync('bash', [programme, '--hayate', hayate, '--out', runDir, '--requests', '12', '--long-requests', '2',
  '--long-tokens', '64', '--turns', '4', '--conversations', '2', '--eval-limit', '3', '--gsm8k-shots', '1'], { stdio: 'inherit' });
const htmlPath = join(runDir, 'report.html');

const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
};

const { browser, close } = await launchChromium();
try {
  const page = await browser.newPage();
  const consoleErrors = consoleErrorsOf(page);
  await page.goto(pathToFileURL(htmlPath).href, { waitUntil: 'load' });

  const facts = await page.evaluate(() => {
    const sized = (el) => {
      const b = el.getBoundingClientRect();
      return b.width > 0 && b.height > 0;
    };
    const charts = [...document.querySelectorAll('svg.chart')].map((svg) => ({
      title: svg.querySelector('text.title')?.textContent ?? '',
      drawn: [...svg.querySelectorAll('path.series, rect, circle')].filter(sized).length,
    }));
    const flow = document.querySelector('svg.flowchart');
    return {
      charts,
      flow: flow && {
        sized: sized(flow),
        decisions: [...flow.querySelectorAll('polygon.decision')].filter(sized).length,
        leaves: [...flow.querySelectorAll('rect.leaf')].filter(sized).length,
        edges: [...flow.querySelectorAll('path.edge')].filter(sized).length,
        text: flow.textContent,
      },
      matrixRows: document.querySelectorAll('#matrix tr').length - 1,
      frontRows: document.querySelectorAll('#matrix tr.front').length,
      useCases: [...document.querySelectorAll('#use-cases tr')].slice(1).map((tr) => tr.innerText),
      rules: document.querySelectorAll('ol.rules li').length,
      bodyText: document.body.innerText,
    };
  });

  check(consoleErrors.length === 0, `console or page errors: ${consoleErrors.join('; ')}`);
  const titles = facts.charts.map((c) => c.title);
  for (const c of facts.charts) check(c.drawn > 0, `chart "${c.title}" draws nothing`);
  for (const want of ['Output throughput against concurrency', 'Time to first token',
    'Speed against memory (Pareto front', 'Memory per configuration']) {
    check(titles.some((t) => t.includes(want)), `no chart titled "${want}" (have: ${titles.join(' | ')})`);
  }
  check(facts.flow !== null, 'no flowchart');
  if (facts.flow) {
    check(facts.flow.sized, 'the flowchart has no size on the page');
    check(facts.flow.decisions === 2, `flowchart: ${facts.flow.decisions} questions drawn, expected 2`);
    check(facts.flow.leaves === 3, `flowchart: ${facts.flow.leaves} answers drawn, expected 3`);
    check(facts.flow.edges === 4, `flowchart: ${facts.flow.edges} arrows drawn, expected 4`);
    check(facts.flow.text.includes('hayate-demo'), 'the flowchart names no measured configuration');
  }
  check(facts.rules === 2, `expected the flowchart's 2 rules printed, found ${facts.rules}`);
  check(facts.matrixRows >= 1, 'the speed × quality × memory matrix is empty');
  check(facts.frontRows >= 1, 'no matrix row is marked as on a Pareto front');
  check(facts.useCases.length === 4, `expected picks for chat, code, RAG and batch, got: ${facts.useCases.join(' / ')}`);
  check(facts.bodyText.includes('no GPU was sampled') || facts.bodyText.includes('J per token'),
    'the report neither shows energy nor says that no GPU was sampled');

  const shot = resolve(outDir, 'report-programme.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`report from the programme: ${facts.charts.length} charts, flowchart ${JSON.stringify(
    facts.flow && { decisions: facts.flow.decisions, leaves: facts.flow.leaves, edges: facts.flow.edges })}, ` +
    `${facts.matrixRows} matrix rows; screenshot ${shot}`);
} finally {
  await close();
}

if (failures.length) {
  for (const f of failures) console.error(`FAIL: ${f}`);
  process.exit(1);
}
console.log('report from the programme: all checks passed');
