import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { writeAtomically } from '@strata/image';
import { createSbom, SBOM_FORMATS, type SbomFormat } from '@strata/sbom';
import { type Command, Option } from 'commander';
import type { CommandContext } from '../context.js';
import { parseImageLocation } from '../image-location.js';
import { openImage } from '../open-image.js';
import { addReportOptions, createReporter, type ReportFlags, refuseJsonOnStdout } from '../report.js';
import { parseBoolean } from '../arguments.js';
import { addRegistryOptions, type RegistryFlags, registryOptions } from '../registry-options.js';

interface SbomFlags extends RegistryFlags, ReportFlags {
  readonly format: SbomFormat;
  readonly output: string;
}

/** `strata sbom (SPEC | ARCHIVE | REFERENCE) --format … -o FILE`: every store path of the image, as SPDX or CycloneDX JSON. */
export function registerSbom(program: Command, context: CommandContext): void {
  const command = addRegistryOptions(program.command('sbom'))
    .description("an SBOM of an image: every Nix store path it holds (name and version as parseDrvName splits them, narHash, references); same image, same bytes")
    .argument('<image>', 'an image spec JSON file, a docker-archive, an OCI layout (oci:DIR[:NAME], oci-archive:FILE[:NAME]), or a registry reference (REGISTRY/REPO[:TAG|@DIGEST], docker://…)')
    .addOption(new Option('--format <format>', 'spdx-json (SPDX 2.3) or cyclonedx-json (CycloneDX 1.5)').choices(SBOM_FORMATS).makeOptionMandatory())
    .requiredOption('-o, --output <file>', 'the SBOM file to write, atomically; - writes it to stdout (required)')
    .option('--tls-verify <bool>', 'require https with a verified certificate unless the registry is on loopback', parseBoolean, true);
  addReportOptions(command, 'print what was written as JSON on stdout: {file, format, mediaType, imageId, storePaths}');
  command.action(async (text: string, flags: SbomFlags) => {
    if (flags.output === '-') refuseJsonOnStdout(flags, 'sbom');
    const report = createReporter(flags, context);
    const location = await parseImageLocation(text, { mustExist: true });
    const image = await openImage(location, report.context, { registry: registryOptions(flags, context) });
    try {
      const sbom = await createSbom(image, flags.format, { signal: context.signal });
      if (flags.output === '-') context.stdout.write(sbom.bytes);
      else await writeAtomically(resolve(flags.output), (temp) => writeFile(temp, sbom.bytes, { flag: 'wx' }));
      const paths = sbom.contents.storePaths.length;
      report.info(`${paths} store paths of image ${sbom.contents.imageId} (${flags.format})`);
      if (flags.output !== '-') report.result({ file: resolve(flags.output), format: flags.format, mediaType: sbom.mediaType, imageId: sbom.contents.imageId, storePaths: paths });
    } finally {
      await image.dispose();
    }
  });
}
