import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CommandContext } from './context.js';
import { createReporter, refuseJsonOnStdout } from './report.js';

function streams(tty = false) {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = new PassThrough().on('data', (c: Buffer) => out.push(c.toString()));
  const stderr = Object.assign(new PassThrough().on('data', (c: Buffer) => err.push(c.toString())), tty ? { isTTY: true } : {});
  const context: CommandContext = { signal: new AbortController().signal, stdout, stderr };
  return { context, out: () => out.join(''), err: () => err.join('') };
}

describe('createReporter', () => {
  it('by default: summaries on stderr, the text result on stdout, the context unchanged', () => {
    const s = streams();
    const report = createReporter({}, s.context);
    report.info('pushed 3 layers');
    report.result({ reference: 'r@sha256:x' }, 'r@sha256:x\n');
    expect([s.out(), s.err()]).toEqual(['r@sha256:x\n', 'pushed 3 layers\n']);
    expect(report.context).toBe(s.context);
  });

  it('--json: the value as JSON on stdout, no summary', () => {
    const s = streams();
    const report = createReporter({ json: true }, s.context);
    report.info('pushed 3 layers');
    report.result({ reference: 'r@sha256:x', layers: [] }, 'r@sha256:x\n');
    expect(JSON.parse(s.out())).toEqual({ reference: 'r@sha256:x', layers: [] });
    expect(s.err()).toBe('');
  });

  it('--quiet: only the text result; what goes to its context\'s stderr is dropped, and that is no terminal', () => {
    const s = streams(true);
    const report = createReporter({ quiet: true }, s.context);
    report.info('pulled');
    report.context.stderr.write('strata: a notice\n');
    report.result({ file: 'x' });
    report.result({ file: 'x' }, 'x\n');
    expect([s.out(), s.err()]).toEqual(['x\n', '']);
    expect((report.context.stderr as { isTTY?: boolean }).isTTY).toBeUndefined();
    expect(report.context.stdout).toBe(s.context.stdout);
  });

  it('clears a progress line on a terminal before a summary line', () => {
    const s = streams(true);
    createReporter({}, s.context).info('done');
    expect(s.err()).toBe('\r\x1b[Kdone\n');
  });
});

describe('refuseJsonOnStdout', () => {
  it('is a usage error naming the command only with --json', () => {
    expect(() => refuseJsonOnStdout({ json: true }, 'export')).toThrow(/^export: --json/);
    expect(() => refuseJsonOnStdout({ quiet: true }, 'export')).not.toThrow();
  });
});
