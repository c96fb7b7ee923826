// A redis-server or a PostgreSQL cluster of the test's own on a free loopback port, for the Node
// tests of a store shared by several servers (tests/support/services.h is the C++ twin). As root
// the PostgreSQL cluster belongs to "nobody" (it refuses to run as root). stop() ends it.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitFor(what, ready, child) {
  let exited = null;
  child.on('exit', (code) => { exited = code; });
  for (let i = 0; i < 600; ++i) {
    if (exited !== null) throw new Error(`${what} exited (${exited})`);
    if (ready()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start in 60 s`);
}

function stopper(child, signal, dir) {
  return () => new Promise((resolve) => {
    const done = () => { rmSync(dir, { recursive: true, force: true }); resolve(); };
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.on('exit', done);
    child.kill(signal);
  });
}

export async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), 'hayate-redis-'));
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir], { stdio: 'ignore' });
  let log = '';
  await waitFor('redis-server', () => {
    try {
      log = execFileSync('redis-cli', ['-p', String(port), 'PING'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    } catch { log = ''; }
    return log.startsWith('PONG');
  }, child);
  return { url: `redis://127.0.0.1:${port}`, stop: stopper(child, 'SIGKILL', dir) };
}

export function postgresBin() {
  for (const v of ['17', '16', '15', '14', '13']) {
    const d = `/usr/lib/postgresql/${v}/bin`;
    if (existsSync(`${d}/initdb`)) return d;
  }
  throw new Error('PostgreSQL is not installed (scripts/setup.sh installs postgresql)');
}

export async function startPostgres() {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), 'hayate-pg-'));
  const as = {};
  if (process.getuid() === 0) {
    const [uid, gid] = ['-u', '-g'].map((f) => Number(execFileSync('id', [f, 'nobody']).toString()));
    chownSync(dir, uid, gid);
    Object.assign(as, { uid, gid });
  }
  execFileSync(`${bin}/initdb`, ['-D', join(dir, 'data'), '-U', 'hayate', '-A', 'trust', '-E', 'UTF8', '--locale=C',
    '--no-sync'], { stdio: 'ignore', ...as });
  const port = await freePort();
  const child = spawn(`${bin}/postgres`, ['-D', join(dir, 'data'), '-p', String(port), '-k', dir,
    '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'], { stdio: 'ignore', ...as });
  await waitFor('postgres', () => {
    try {
      execFileSync(`${bin}/pg_isready`, ['-q', '-h', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
      return true;
    } catch { return false; }
  }, child);
  // SIGQUIT: immediate shutdown, the postmaster ends its backends first.
  return { url: `postgresql://hayate@127.0.0.1:${port}/postgres`, stop: stopper(child, 'SIGQUIT', dir) };
}
