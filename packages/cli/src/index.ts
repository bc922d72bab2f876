export { main } from './main.js';
export { createProgram } from './program.js';
export { CliError, describeError } from './errors.js';
export { writeAtomically } from '@strata/image';
