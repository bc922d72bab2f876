#!/usr/bin/env node
// `pnpm bench [name...]`: runs the benchmark files in bench/ (all, or the named ones) one after
// another and prints their rows. Each file default-exports `async ({ log }) => rows`, where a row is
// `{ name, value, unit, reference?, ratio?, note? }`; results are also written to bench/results/.
// Benchmarks measure; they never assert timings.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = new URL('.', import.meta.url).pathname;
const wanted = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();
if (files.length === 0) {
  console.error(`bench: no benchmark matches ${wanted.join(' ')}`);
  process.exit(2);
}
mkdirSync(join(dir, 'results'), { recursive: true });
const log = (msg) => process.stderr.write(`  ${msg}\n`);
let failed = false;
for (const file of files) {
  const name = file.replace(/\.bench\.mjs$/, '');
  console.log(`\n## ${name}`);
  try {
    const { default: bench } = await import(join(dir, file));
    const rows = await bench({ log });
    for (const r of rows) {
      const ref = r.reference === undefined ? '' : `  reference ${fmt(r.reference)} ${r.unit}`;
      const ratio = r.ratio === undefined ? '' : `  ratio ${r.ratio.toFixed(2)}x`;
      console.log(`${r.name.padEnd(58)} ${fmt(r.value).padStart(10)} ${r.unit}${ref}${ratio}${r.note ? `  (${r.note})` : ''}`);
    }
    writeFileSync(join(dir, 'results', `${name}.json`), `${JSON.stringify(rows, null, 2)}\n`);
  } catch (error) {
    failed = true;
    console.log(`FAILED: ${error instanceof Error ? error.stack : error}`);
  }
}
process.exit(failed ? 1 : 0);

function fmt(v) {
  return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v);
}
