import { describe, expect, it } from 'vitest';
import { buildDerivationScript } from './build-derivation.js';
import { renderRcfile } from './rcfile.js';

const shell = '/nix/store/00000000000000000000000000000000-bash-5.2/bin/bash';
const staticPath = '/nix/store/00000000000000000000000000000000-bash-5.2/bin:/nix/store/11111111111111111111111111111111-buildDerivation/bin';

const COMMON = `unset PATH
dontAddDisableDepTrack=1
[ -e "$stdenv/setup" ] && source "$stdenv/setup"
PATH=${staticPath}:"$PATH"
SHELL=${shell}
BASH=${shell}
set +e
[ -n "$PS1" -a -z "$NIX_SHELL_PRESERVE_PROMPT" ] && PS1='\\n\\[\\033[1;32m\\][nix-shell:\\w]\\$\\[\\033[0m\\] '
if [ "$(type -t runHook)" = function ]; then
  runHook shellHook
fi
unset NIX_ENFORCE_PURITY
shopt -u nullglob
shopt -s execfail
`;

describe('renderRcfile', () => {
  it('writes nixpkgs rcfile for an interactive shell', () => {
    expect(renderRcfile({ shell, staticPath, hasStdenv: true })).toBe(`${COMMON}\n`);
  });
  it('ends with command or run, then exit', () => {
    expect(renderRcfile({ shell, staticPath, hasStdenv: true, run: 'make check' })).toBe(`${COMMON}\nmake check\nexit\n\n`);
    expect(renderRcfile({ shell, staticPath, hasStdenv: true, command: 'echo "$out"\nls' })).toBe(`${COMMON}echo "$out"\nls\n\nexit\n\n`);
  });
  it('sources no setup when the derivation has no stdenv, and quotes an odd shell', () => {
    const text = renderRcfile({ shell: "/nix/store/x-my shell/bin/it's", staticPath, hasStdenv: false });
    expect(text).not.toContain('setup');
    expect(text).toContain("SHELL='/nix/store/x-my shell/bin/it'\\''s'\n");
  });
});

describe('buildDerivationScript', () => {
  it('execs the builder with its arguments quoted as nixpkgs quotes them', () => {
    expect(buildDerivationScript('/nix/store/x-bash/bin/bash', ['-e', '/nix/store/y-default-builder.sh'], shell)).toBe(
      `#!${shell}\nexec /nix/store/x-bash/bin/bash -e /nix/store/y-default-builder.sh\n\n`,
    );
    expect(buildDerivationScript('/bin/sh', ['-c', "echo 'hi' > $out", ''], shell)).toBe(`#!${shell}\nexec /bin/sh -c 'echo '\\''hi'\\'' > $out' ''\n\n`);
    expect(buildDerivationScript('builtin:fetchurl', [], shell)).toBe(`#!${shell}\nexec builtin:fetchurl \n\n`);
  });
});
