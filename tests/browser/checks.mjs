// Named checks run in order, each reported ok or FAIL without stopping the others; ONLY=TEXT runs
// those whose name contains TEXT. Returns how many failed.
export async function runChecks(checks, onFail = async () => {}) {
  let failed = 0;
  for (const [i, [name, fn]] of checks.entries()) {
    if (process.env.ONLY && !name.includes(process.env.ONLY)) continue;
    try {
      await fn();
      console.log(`ok   ${name}`);
    } catch (e) {
      ++failed;
      console.log(`FAIL ${name}: ${e.stack}`);
      await onFail(i).catch(() => {});
    }
  }
  return failed;
}

// runChecks, then `cleanup` whatever happened; exits 1 when a check failed.
export async function runChecksThenExit(checks, onFail, cleanup, outDir) {
  let failed = 0;
  try {
    failed = await runChecks(checks, onFail);
  } finally {
    await cleanup();
  }
  if (failed) process.exit(1);
  console.log(`all checks passed; screenshots in ${outDir}`);
}
