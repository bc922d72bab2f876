// The builder of every derivation strata's Nix library makes, run by node as `builder.mjs ACTION`.
// The derivations use structured attrs, so their arguments arrive as JSON (.attrs.json), with
// `outputs.out` and, where asked, the references graph Nix exported: no shell quoting anywhere.
//
//   write   $out from `entries`: files (text, mode), symlinks, directories (the helpers, roots lists)
//   conf    $out/spec.json for strata from `spec` (with `tag` from $out's hash when it is not given),
//           $out/references-graph.json from the exported `graph`, $out/inputs from `keep`
//   strata  runs strata with `strataArgs` (a `spec`, with `tag` and `graph` as for conf, is written
//           to a file and given as --spec after the command)
//   script  $out, a shell script that runs strata with `strataArgs` and the script's own arguments
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const attrsFile = process.env.NIX_ATTRS_JSON_FILE ?? join(process.env.NIX_BUILD_TOP ?? '.', '.attrs.json');
const attrs = JSON.parse(readFileSync(attrsFile, 'utf8'));
const out = attrs.outputs.out;

function fail(message) {
  process.stderr.write(`strata nix builder: ${message}\n`);
  process.exit(2);
}

/** nixpkgs' default tag: the hash part of the output path. */
const ownHash = () => basename(out).slice(0, 32);

function withTag(spec) {
  if (!attrs.tagFromOutput || spec.tag !== undefined) return spec;
  return { ...spec, tag: ownHash() };
}

function write() {
  for (const entry of attrs.entries) {
    const target = entry.path === '' ? out : join(out, entry.path);
    mkdirSync(dirname(target), { recursive: true });
    if (entry.directory) mkdirSync(target, { recursive: true });
    else if (entry.symlink !== undefined) symlinkSync(entry.symlink, target);
    else writeFileSync(target, entry.text, { mode: entry.executable ? 0o555 : 0o444 });
  }
}

function conf() {
  mkdirSync(out);
  const spec = withGraph(withTag(attrs.spec), out);
  // Store paths the image needs at stream time that the spec does not name (a nix-shell image's
  // inputs): written here, they are references of the conf, so they stay alive with it.
  if (attrs.keep !== undefined) writeFileSync(join(out, 'inputs'), `${attrs.keep.join('\n')}\n`);
  writeFileSync(join(out, 'spec.json'), `${JSON.stringify(spec, null, 2)}\n`);
}

/** The spec with the exported references graph, written in `dir` for strata to read. */
function withGraph(spec, dir) {
  if (attrs.graph === undefined) return spec;
  // The closure comes from the graph Nix exported: strata neither asks Nix nor scans.
  const graphFile = join(dir, 'references-graph.json');
  writeFileSync(graphFile, `${JSON.stringify(attrs.graph)}\n`);
  return { ...spec, referencesGraph: graphFile, closureSource: 'graph' };
}

/** The Node flags of the #! line of strata's bin.js (a small young generation: less memory, no slower). */
const NODE_FLAGS = ['--max-semi-space-size=1'];

function strata() {
  const args = [...attrs.strataArgs];
  if (attrs.spec !== undefined) {
    const dir = process.env.NIX_BUILD_TOP ?? process.cwd();
    const specFile = join(dir, 'spec.json');
    writeFileSync(specFile, JSON.stringify(withGraph(withTag(attrs.spec), dir)));
    args.splice(1, 0, '--spec', specFile);
  }
  // Nix sets HOME to /homeless-shelter, which must not exist: with the sandbox off, a cache strata
  // writes there (the VM's) would make every later build on the machine refuse to start.
  const home = join(process.env.NIX_BUILD_TOP ?? process.cwd(), 'home');
  mkdirSync(home, { recursive: true });
  const result = spawnSync(process.execPath, [...NODE_FLAGS, attrs.strata, ...args], {
    stdio: 'inherit',
    env: { ...process.env, PATH: attrs.toolPath, HOME: home, XDG_CACHE_HOME: join(home, '.cache') },
  });
  if (result.error) fail(`cannot run strata: ${result.error.message}`);
  process.exit(result.status ?? 1);
}

const quote = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;

function script() {
  const lines = [
    `#!${attrs.shell}`,
    `# ${attrs.description}`,
    `PATH=${quote(attrs.toolPath)}\${PATH:+:$PATH}`,
    'export PATH',
    `exec ${[attrs.node, ...NODE_FLAGS, attrs.strata, ...attrs.strataArgs].map(quote).join(' ')} "$@"`,
    '',
  ];
  writeFileSync(out, lines.join('\n'), { mode: 0o555 });
}

const actions = { write, conf, strata, script };
const action = actions[process.argv[2]];
if (!action) fail(`unknown action ${process.argv[2]}; expected one of ${Object.keys(actions).join(', ')}`);
action();
