import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type FaultRule,
  hasPeers,
  makeDockerArchive,
  makeTempDir,
  openUploadSessions,
  type RunningFaultProxy,
  type RunningRegistry,
  runStrata,
  startFaultProxy,
  startRegistry,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Runs of push + pull through the fault proxy. CI runs a few; `STRATA_SOAK_RUNS=200` (and
// `STRATA_SOAK_SEED`) run the long version: `pnpm --filter @strata/cli exec vitest run test/fault-soak.test.ts`.
const RUNS = Number(process.env.STRATA_SOAK_RUNS ?? 8);
const SEED = Number(process.env.STRATA_SOAK_SEED ?? 12);
/** Every command must end within this, whatever the faults (a hang is a defect, not a slow run). */
const BOUND_MS = 60_000;
// Short timeouts keep a stall cheap, but not so short that a loaded machine times out a healthy
// upload midway: distribution 2.8 cannot cancel a session that has received part of a body (its
// DELETE is refused, 'upload resumed at wrong offset'), so such a false timeout leaves a session.
const FAST = ['--retry-delay', '0.02', '--connect-timeout', '1', '--idle-timeout', '1'];

/** About one request in four gets a fault, spread over every kind the proxy has. */
const FAULTS: FaultRule[] = [
  { fault: { kind: 'reset' }, chance: 0.04 },
  { fault: { kind: 'status', status: 500 }, chance: 0.03 },
  { fault: { kind: 'status', status: 503 }, chance: 0.03 },
  { fault: { kind: 'status', status: 429, retryAfter: '0' }, chance: 0.03 },
  { method: 'GET', fault: { kind: 'truncate' }, chance: 0.04 },
  { method: 'GET', fault: { kind: 'corrupt' }, chance: 0.04 },
  { fault: { kind: 'stall' }, chance: 0.02 },
  { method: 'GET', fault: { kind: 'stall', bytes: 1000 }, chance: 0.02 },
  { method: 'GET', path: /\/blobs\//, fault: { kind: 'trickle', intervalMs: 100 }, chance: 0.02 },
  { method: 'PUT', fault: { kind: 'lose-response' }, chance: 0.04 },
];

const sha256File = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

describe.runIf(hasPeers('docker-registry'))(`push and pull through injected faults (${RUNS} runs, seed ${SEED})`, () => {
  let reg: RunningRegistry;
  let proxy: RunningFaultProxy;
  let dir: TempDir;
  let archive: string;
  beforeAll(async () => {
    dir = await makeTempDir('strata-cli-soak-');
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url, FAULTS, { seed: SEED });
    archive = await makeDockerArchive(dir.path, [600_000, 250_000, 40_000]);
  });
  afterAll(async () => {
    await proxy.stop();
    await reg.stop();
    await dir.remove();
  });

  it('never corrupts, never hangs, and leaves nothing behind', async () => {
    // The reference: the same image pulled with no proxy in the way.
    const clean = await runStrata(['push', archive, `${reg.host}/soak/reference:1`]);
    expect(clean.exitCode, clean.stderr).toBe(0);
    const expected = join(dir.path, 'expected.tar');
    expect((await runStrata(['pull', `${reg.host}/soak/reference:1`, '-o', expected])).exitCode).toBe(0);
    const want = await sha256File(expected);

    const tmp = join(dir.path, 'tmp');
    const out = join(dir.path, 'out');
    await mkdir(tmp);
    await mkdir(out);
    const env = { TMPDIR: tmp };
    const tally = { runs: RUNS, pushed: 0, pulled: 0, failed: 0, corrupt: 0, hung: 0, leftovers: 0, unnamed: 0, faults: 0, requests: 0 };
    const failures: string[] = [];
    const start = proxy.requests.length;
    for (let i = 0; i < RUNS; i++) {
      const check = (result: { exitCode: number; stderr: string }) => {
        if (result.exitCode === 0) return true;
        // runStrata kills a run past its bound: killed means hung.
        if (result.exitCode !== 1) tally.hung++;
        else tally.failed++;
        const message = result.stderr.trim().split('\n').at(-1) ?? '';
        failures.push(message);
        // A failure says what failed: its code, and the request (method and URL) or the blob.
        if (!/^strata: [A-Z_]+: (?:(?:GET|HEAD|PUT|POST|PATCH|DELETE) http:\/\/|blob |layer |manifest )/.test(message)) tally.unnamed++;
        return false;
      };
      const pushed = await runStrata(['push', archive, `${proxy.host}/soak/run${i}:1`, ...FAST], { env, timeoutMs: BOUND_MS });
      if (check(pushed)) tally.pushed++;
      const file = join(out, `run${i}.tar`);
      // Pull what the clean push stored, so a failed push does not hide the pull's faults.
      const pulled = await runStrata(['pull', `${proxy.host}/soak/reference:1`, '-o', file, ...FAST], { env, timeoutMs: BOUND_MS });
      if (check(pulled)) {
        tally.pulled++;
        if ((await sha256File(file)) !== want) tally.corrupt++;
      }
    }
    // Nothing but finished outputs in the output directory, nothing in the temp directory, no open upload session.
    const leftovers = { outputs: (await readdir(out)).filter((f) => !/^run\d+\.tar$/.test(f)), temp: await readdir(tmp), uploads: await openUploadSessions(reg, 'soak') };
    tally.leftovers = leftovers.outputs.length + leftovers.temp.length + leftovers.uploads.length;
    const log = proxy.requests.slice(start);
    tally.requests = log.length;
    tally.faults = log.filter((r) => r.fault).length;
    console.log(`fault soak: ${JSON.stringify(tally)} leftovers ${JSON.stringify(leftovers)}\n${failures.map((f) => `  ${f}`).join('\n')}`);
    expect(tally.faults).toBeGreaterThan(0);
    expect({ corrupt: tally.corrupt, hung: tally.hung, leftovers: tally.leftovers, unnamed: tally.unnamed }).toEqual({ corrupt: 0, hung: 0, leftovers: 0, unnamed: 0 });
  }, 600_000);
});
