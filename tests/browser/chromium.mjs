// Headless Debian Chromium for the report tests, launched the way docs/STACK notes say (no
// sandbox, no GPU, no background traffic, a fresh profile that close() removes).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export async function launchChromium() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    console.error(`${executablePath} not found: install Debian's chromium (bash scripts/setup.sh) or set CHROMIUM`);
    process.exit(1);
  }
  const userDataDir = mkdtempSync(join(tmpdir(), 'hayate-chromium-'));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 900 },
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
