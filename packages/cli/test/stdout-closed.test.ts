import { join } from 'node:path';
import { repoRoot, run } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';

const bin = join(repoRoot(), 'packages/cli/dist/bin.js');

/** Runs strata into a pipe whose reader has already gone (closed at once, long before strata writes), and gives its status and stderr. */
async function cutShort(args: string): Promise<{ status: number; stderr: string }> {
  const script = `'${process.execPath}' '${bin}' ${args} 2>"$0.err" | (exec 0<&-; sleep 1); echo "\${PIPESTATUS[0]}"; cat "$0.err" >&2; rm -f "$0.err"`;
  const { stdout, stderr } = await run('bash', ['-c', script, join(repoRoot(), `.stdout-closed-${process.pid}`)], { allowFailure: true });
  return { status: Number(stdout.trim()), stderr };
}

describe('a reader that stops early', () => {
  it('ends strata quietly with the status of a write to a closed pipe (141), as GNU tools do', async () => {
    for (const args of ['--help', 'closure --help', 'completion bash']) {
      const { status, stderr } = await cutShort(args);
      expect(stderr, args).toBe('');
      expect(status, args).toBe(141);
    }
  });

  it('ends with 1 and one line when stdout refuses the text (/dev/full), not with a stack trace', async () => {
    for (const args of ['--help', 'closure --help', 'completion bash']) {
      const { exitCode, stderr } = await run('bash', ['-c', `'${process.execPath}' '${bin}' ${args} > /dev/full`], { allowFailure: true });
      expect([exitCode, stderr], args).toEqual([1, 'strata: ENOSPC: no space left on device, write\n']);
    }
  });
});
