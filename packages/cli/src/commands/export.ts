import { checkOutputPath } from '../output.js';
import { closeSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { exportImage } from '@strata/dockertools';
import { writeAtomically } from '@strata/image';
import { prepareWriteToFd } from '@strata/layer';
import { type Command, InvalidArgumentError } from 'commander';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatBytes } from '../format.js';
import { pipeToStdout } from '../layered/stdout.js';
import { addReportOptions, createReporter, type ReportFlags, refuseJsonOnStdout } from '../report.js';

interface ExportFlags extends ReportFlags {
  readonly output: string;
  readonly fromImageName?: string;
  readonly fromImageTag?: string;
  readonly diskSize?: number;
}

function mebibytes(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError('expected a whole number of MiB above 0');
  return Number(value);
}

/** `strata export IMAGE -o FILE`: nixpkgs' exportImage, the image's filesystem flattened into one uncompressed tar. */
export function registerExport(program: Command, context: CommandContext): void {
  addReportOptions(program.command('export'), 'print what was written as JSON on stdout: {file, size, entries} (not with -o -)')
    .description("flatten an image's filesystem into one uncompressed tar (nixpkgs' exportImage; podman import, docker import)")
    .argument('<image>', 'a docker-archive (plain, gz or zstd), e.g. from build-layered or pull')
    .requiredOption('-o, --output <file>', 'the tar to write, atomically; - streams it to stdout (required)')
    .option('--from-image-name <name>', 'which image of a multi-image archive, by repository name (with --from-image-tag)')
    .option('--from-image-tag <tag>', 'the tag to go with --from-image-name')
    .option('--disk-size <mib>', 'the most MiB of files the image may unpack to while exporting (default: unbounded)', mebibytes)
    .action(async (file: string, flags: ExportFlags) => {
      const { signal } = context;
      if ((flags.fromImageName === undefined) !== (flags.fromImageTag === undefined)) {
        throw new CliError(`export: ${flags.fromImageName === undefined ? '--from-image-name' : '--from-image-tag'} is required with ${flags.fromImageName === undefined ? '--from-image-tag' : '--from-image-name'}`, 'USAGE');
      }
      const toStdout = flags.output === '-';
      if (toStdout && (context.stdout as { isTTY?: boolean }).isTTY) throw new CliError('export: stdout is a terminal; pipe it or redirect it', 'USAGE');
      if (toStdout) refuseJsonOnStdout(flags, 'export');
      const report = createReporter(flags, context);
      if (!toStdout) await checkOutputPath(flags.output);
      // The thread that hashes the tar as it is written boots while the image is unpacked.
      void prepareWriteToFd();
      const exported = await exportImage({
        fromImage: file,
        ...(flags.fromImageName === undefined ? {} : { fromImageName: flags.fromImageName, fromImageTag: flags.fromImageTag! }),
        ...(flags.diskSize === undefined ? {} : { diskSize: flags.diskSize }),
        signal,
      });
      try {
        if (toStdout) {
          await pipeToStdout(exported.open(), [], context);
          return;
        }
        const output = resolve(flags.output);
        // The tar writes itself into the file: files are read into one reused buffer, hashed there
        // on a worker thread and written out in large writes (the signal aborts it too).
        await writeAtomically(output, async (temp) => {
          const fd = openSync(temp, 'wx');
          try {
            await exported.open().writeToFd(fd);
          } finally {
            closeSync(fd);
          }
        });
        report.info(`exported ${exported.entries} entries (${formatBytes(exported.size)}) to ${flags.output}`);
        report.result({ file: output, size: exported.size, entries: exported.entries });
      } finally {
        await exported.dispose();
      }
    });
}
