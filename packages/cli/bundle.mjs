// Bundles the `strata` command (dist/bin.js) after tsc has built dist/.
//
// Why: started from tsc's output, Node opens, resolves and compiles one ES module per file, about
// 200-290 of them for a command (the @strata packages, zod, commander, tar-stream). That took
// 0.25-0.3 s before a command did anything, most of a warm re-push or a `--help`. Bundled, the same
// code loads in about 0.13 s. dist/index.js and the other modules stay tsc's, for the library API.
//
// - Each command stays in its own chunk (code splitting keeps program.ts's dynamic imports), so a
//   command still loads only what it uses.
// - zstd-napi (a native addon) and sql.js (with its .wasm) stay outside: they are found at run time
//   from this package, which lists both as dependencies.
// - The CommonJS dependencies (commander, tar-stream) call require(); an ES module has none, so each
//   output file gets one made by createRequire.
// - Output is deterministic (esbuild names chunks by content hash), so a build is reproducible.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

const here = new URL('.', import.meta.url).pathname;

await build({
  absWorkingDir: here,
  entryPoints: { bin: 'src/bin.ts' },
  outdir: 'dist',
  chunkNames: 'bin-chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  external: ['zstd-napi', 'zstd-napi/*', 'sql.js', 'sql.js/*'],
  banner: {
    js: "import { createRequire as __strataCreateRequire } from 'node:module';\nconst require = __strataCreateRequire(import.meta.url);",
  },
  // No source maps: they would point at the other packages' sources, which are not in this
  // package. The chunks are not minified and mark each module with a `// file` comment.
  sourcemap: false,
  legalComments: 'eof',
  logLevel: 'warning',
});

// tsc's map of the bin.js this bundle replaced would describe other code.
rmSync(new URL('dist/bin.js.map', import.meta.url), { force: true });
