import { podmanLoad, podmanRemove } from '@strata/test-utils';
import { deleteStorePaths, type ExpressionFile, nonce } from './_nix.js';

/** What a run built, for {@link TestRun.cleanup}. */
export interface CleanupOptions {
  /** Store paths to delete: the outputs built (what their closures hold with the mark goes too). */
  readonly paths?: readonly string[];
  /** The expression file the images were built from: removed, and `attrs` of it evaluated for more paths. */
  readonly file?: ExpressionFile;
  /** Derivation attributes of `file` whose outputs go too (confs, closure roots, bases). */
  readonly attrs?: readonly string[];
  /** More expression files to remove. */
  readonly files?: readonly (ExpressionFile | undefined)[];
}

/** One test file's run: the mark its image names carry, the podman images it loaded, their cleanup. */
export interface TestRun {
  /** `strata-nixlib-<nonce>`: the prefix of every image name of the run, which also finds its store paths. */
  readonly mark: string;
  /** `podman load`s an archive and remembers the image for the cleanup. */
  load(archive: string): Promise<string>;
  /** Remembers images loaded some other way (a stream, an import, a multi-image archive). */
  loaded(...images: string[]): void;
  /** Removes the images, deletes what the run built from the store, removes its expression files. */
  cleanup(options: CleanupOptions): Promise<void>;
}

/** A fresh {@link TestRun}: podman storage and the Nix store are shared with other runs. */
export function testRun(): TestRun {
  const mark = `strata-nixlib-${nonce()}`;
  const images: string[] = [];
  return {
    mark,
    async load(archive) {
      const image = await podmanLoad(archive);
      images.push(image);
      return image;
    },
    loaded: (...more) => {
      images.push(...more);
    },
    async cleanup({ paths = [], file, attrs = [], files = [] }) {
      for (const image of images) await podmanRemove(image);
      try {
        const more = file && attrs.length > 0 ? await file.outPaths(...attrs) : [];
        await deleteStorePaths([...paths, ...more], mark);
      } finally {
        for (const f of [file, ...files]) await f?.remove();
      }
    },
  };
}
