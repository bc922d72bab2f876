#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

// V8 grows its young generation up to 3 x 16 MiB while many objects survive (module code, a layer
// plan of 100k entries): tens of MiB of RSS that streaming does not need. Keeping it at its
// initial size costs no measurable CPU (bench/stream-layered) and keeps the peak under 100 MiB.
// The factor is read when V8 considers growing, so setting it now, before the modules load, works.
// V8 11 to 13 (Node 20 to 24) know the flag; a V8 that does not would print an error, so ask only those.
if (Number(process.versions.v8.split('.')[0]) <= 13) setFlagsFromString('--semi-space-growth-factor=1');
const { main } = await import('./main.js');

process.exitCode = await main(process.argv.slice(2));
