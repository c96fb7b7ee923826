// web/dist is committed (the C++ build embeds it and needs no npm): this rebuilds it from web/src
// into a scratch folder and fails when the two differ, i.e. when someone changed the source and
// forgot `npm run build` (or the other way round). Run after `npm ci` in web/.
//
//   node web_bundle_test.mjs WEB_DIR OUT_DIR
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const [web, out] = process.argv.slice(2).map((p) => resolve(p));
rmSync(out, { recursive: true, force: true });
execFileSync(join(web, 'node_modules', '.bin', 'tsc'), ['--noEmit'], { cwd: web, stdio: 'inherit' });
execFileSync(join(web, 'node_modules', '.bin', 'vite'), ['build', '--outDir', out, '--emptyOutDir', '--logLevel', 'warn'],
  { cwd: web, stdio: 'inherit' });

const files = (dir) => readdirSync(dir, { recursive: true, withFileTypes: true })
  .filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath ?? e.path, e.name))).sort();
const committed = files(join(web, 'dist')), built = files(out);
let bad = committed.join() !== built.join() ? [`files differ: committed ${committed} built ${built}`] : [];
for (const f of built)
  if (committed.includes(f) && !readFileSync(join(out, f)).equals(readFileSync(join(web, 'dist', f))))
    bad.push(`${f} differs from web/dist/${f}: run 'npm run build' in web/ and commit web/dist`);
if (bad.length) {
  console.log(bad.join('\n'));
  process.exit(1);
}
console.log(`web/dist matches web/src (${built.length} files)`);
