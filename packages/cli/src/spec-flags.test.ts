import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addLayeredOptions } from './layered/options.js';
import { readSpecWithFlags } from './spec-flags.js';

describe('readSpecWithFlags', () => {
  it('maps every flag to its spec key, also where commander would spell the key otherwise', async () => {
    const command = addLayeredOptions(new Command('x').exitOverride());
    command.parse(['--name', 'n', '--include-nix-db', '--max-layers', '3', '--fake-nss'], { from: 'user' });
    const { raw } = await readSpecWithFlags(command);
    // commander calls --include-nix-db "includeNixDb"; the spec key is nixpkgs' includeNixDB.
    expect(raw).toEqual({ name: 'n', includeNixDB: true, maxLayers: 3, fakeNss: true });
  });
});
