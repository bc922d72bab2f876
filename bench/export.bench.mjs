// `strata export` of a ~1 GiB image: the stream-layered bench's ~400-path closure (real Nix),
// built into an uncompressed layered image once (not timed), then flattened with `strata export
// IMAGE -o FILE`, side by side in the same run with GNU tar doing the work by hand: `tar -x` of the
// image's layers, in order, into a directory (what the issue names as the reference: the unpack
// alone), and that unpack followed by `tar --sort=name -c` of the tree into a file (the whole job
// export does, as nixpkgs' exportImage does it minus the VM). Wall medians and strata's peak RSS.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildNix } from '../packages/test-utils/dist/index.js';
import { STRATA, STRATA_NODE_ARGS, timeShell } from './_lib.mjs';
import { expression } from './stream-layered.bench.mjs';

const RUNS = 3;

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

export default async function bench({ log }) {
  log('building the ~1 GiB closure with nix-build (cached after the first run)');
  const [root] = await buildNix(expression());
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-export-'));
  try {
    const graph = join(dir, 'graph.json');
    writeFileSync(graph, execFileSync('nix', ['path-info', '--json', '--recursive', '--extra-experimental-features', 'nix-command', root]));
    const image = join(dir, 'image.tar');
    log('building the image (not timed)');
    execFileSync(process.execPath, [...STRATA_NODE_ARGS, 'build-layered', '--name', 'bench-export', '--tag', '1', '--contents', root, '--references-graph', graph, '--compressor', 'none', '-o', image]);
    const [manifest] = JSON.parse(execFileSync('tar', ['-xOf', image, 'manifest.json'], { encoding: 'utf8' }));
    const members = join(dir, 'members');
    execFileSync('mkdir', [members]);
    execFileSync('tar', ['-xf', image, '-C', members, ...manifest.Layers]);
    const bytes = Number(execFileSync('du', ['-sb', members], { encoding: 'utf8' }).split('\t')[0]);
    const gib = bytes / 2 ** 30;
    log(`${manifest.Layers.length} layers, ${gib.toFixed(2)} GiB`);

    const out = join(dir, 'rootfs.tar');
    const tree = join(dir, 'tree');
    const untar = `mkdir ${tree} && ${manifest.Layers.map((l) => `tar -xf ${join(members, l)} -C ${tree}`).join(' && ')}`;
    const scripts = {
      strata: `TMPDIR=${dir} ${STRATA} export ${image} -o ${out}`,
      untar,
      untarRetar: `${untar} && tar -C ${tree} --sort=name --mtime=@315532800 -cf ${out} .`,
    };
    const clean = () => {
      rmSync(tree, { recursive: true, force: true });
      rmSync(out, { force: true });
    };
    await timeShell(`cat ${image} ${manifest.Layers.map((l) => join(members, l)).join(' ')} > /dev/null`); // warm the page cache
    const times = { strata: [], untar: [], untarRetar: [] };
    const rss = [];
    for (let i = 0; i < RUNS; i++) {
      for (const [name, script] of Object.entries(scripts)) {
        clean();
        const run = await timeShell(script, name === 'strata' ? { rssOf: process.execPath } : {});
        times[name].push(run.seconds);
        if (name === 'strata') rss.push(run.rssMiB);
      }
      clean();
      log(`run ${i + 1}: strata ${times.strata[i].toFixed(2)} s (${rss[i]?.toFixed(0)} MiB), tar -x ${times.untar[i].toFixed(2)} s, tar -x + tar -c ${times.untarRetar[i].toFixed(2)} s`);
    }
    const [strata, untarT, retarT] = [median(times.strata), median(times.untar), median(times.untarRetar)];
    return [
      { name: `export ${gib.toFixed(2)} GiB image -o FILE (wall, median of ${RUNS})`, value: strata, unit: 's', reference: untarT, ratio: strata / untarT, note: 'reference: tar -x of the layers into a directory' },
      { name: 'export against tar -x of the layers + tar --sort=name -c', value: strata, unit: 's', reference: retarT, ratio: strata / retarT, note: 'the same job by hand' },
      { name: 'export per GiB', value: strata / gib, unit: 's/GiB', reference: untarT / gib, ratio: strata / untarT },
      { name: 'export peak RSS', value: Math.max(...rss), unit: 'MiB', note: 'goal < 150 MiB' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
