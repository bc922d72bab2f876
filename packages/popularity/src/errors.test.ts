import { describe, expect, it } from 'vitest';
import { InvalidGraphError, LayerBudgetError, PipelineError, PopularityError } from './errors.js';

describe('PopularityError classes', () => {
  it('match their own class and the base, never a sibling', () => {
    const budget = new LayerBudgetError('no room');
    expect(budget).toBeInstanceOf(LayerBudgetError);
    expect(budget).toBeInstanceOf(PopularityError);
    expect(budget).toBeInstanceOf(Error);
    expect(budget instanceof PipelineError).toBe(false);
    expect(budget instanceof InvalidGraphError).toBe(false);
    expect(new PopularityError('INVALID_OPTION', 'x') instanceof LayerBudgetError).toBe(false);
  });
  it('match across installed copies through the shared brand', () => {
    const foreign = { [Symbol.for('strata.popularity.PopularityError')]: true, [Symbol.for('strata.popularity.PipelineError')]: true };
    expect(foreign instanceof PipelineError).toBe(true);
    expect(foreign instanceof PopularityError).toBe(true);
    expect(foreign instanceof LayerBudgetError).toBe(false);
  });
});
