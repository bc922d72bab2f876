import { describe, expect, it } from 'vitest';
import { PipelineError } from './errors.js';
import { parsePipeline } from './pipeline.js';

describe('parsePipeline nesting', () => {
  it('refuses steps nested deeper than 64 instead of overflowing the stack', () => {
    let step: unknown = ['popularity_contest'];
    for (let i = 0; i < 5000; i++) step = ['pipe', [step]];
    const error = (() => {
      try {
        parsePipeline([step]);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(PipelineError);
    expect((error as PipelineError).message).toMatch(/^pipeline\[0\](\[1\]\[0\]){64}: steps nested deeper than 64$/);
    let ok: unknown = ['popularity_contest'];
    for (let i = 0; i < 63; i++) ok = ['pipe', [ok]];
    expect(parsePipeline([ok])).toHaveLength(1);
  });

  it('shortens long values in messages', () => {
    expect(() => parsePipeline([['limit_layers', 'x'.repeat(10_000)]])).toThrow(/^pipeline\[0\] \(limit_layers\): count: expected an integer >= 1, got "x{20,80}…$/);
  });
});
