import { writeDockerArchive, writeOciArchive } from '@strata/image';
import { type Command, Option } from 'commander';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { addLayeredOptions, resolveLayeredSpec } from '../layered/options.js';
import { withLayeredImage } from '../layered/run.js';
import { pipeToStdout, prepareStdout } from '../layered/stdout.js';
import { addLayerOptions, closureCache, type LayerFlags, layerCache, layerCompression } from '../layer-options.js';
import { checkOutputFlags } from '../output.js';
import { addReportOptions, createReporter, type ReportFlags } from '../report.js';

interface StreamFlags extends LayerFlags, ReportFlags {
  readonly format?: 'docker-archive' | 'oci-archive';
}

/** `strata stream-layered`: writes a layered image (docker-archive or OCI archive, uncompressed) to stdout, like nixpkgs' streamLayeredImage script. */
export function registerStreamLayered(program: Command, context: CommandContext): void {
  const command = program
    .command('stream-layered')
    .description('stream a layered image from Nix store closures to stdout (docker-archive or oci-archive; podman load, skopeo, docker load)');
  command.addOption(new Option('--format <format>', 'docker-archive or oci-archive (a tar of an OCI layout) (default: docker-archive)').choices(['docker-archive', 'oci-archive', 'oci']));
  addLayerOptions(command, 'none; oci-archive only');
  addReportOptions(addLayeredOptions(command)).action(async (flags: StreamFlags) => {
    if ((context.stdout as { isTTY?: boolean }).isTTY) throw new CliError('stream-layered: stdout is a terminal; pipe it (| podman load) or redirect it', 'USAGE');
    if ((flags.format as string) === 'oci') throw new CliError('--format oci: a layout directory cannot stream; use build-layered --format oci -o DIR, or --format oci-archive', 'USAGE');
    checkOutputFlags(flags);
    const { context: quiet } = createReporter(flags, context);
    // A docker-archive's layers are hashed on a thread as they are written: start it while planning.
    if (flags.format !== 'oci-archive') prepareStdout(context);
    const options = { ...(await resolveLayeredSpec(command)), ...closureCache(flags) };
    await withLayeredImage(options, quiet, (image, progress) => {
      const common = { signal: context.signal, onLayer: progress.onLayer };
      const archive =
        flags.format === 'oci-archive'
          ? writeOciArchive(image, { ...common, ...layerCompression(flags, 'none'), ...layerCache(flags, quiet) })
          : writeDockerArchive(image, common);
      return pipeToStdout(archive, progress.stages, context);
    });
  });
}
