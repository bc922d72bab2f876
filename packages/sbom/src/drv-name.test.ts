import { describe, expect, it } from 'vitest';
import { parseDrvName } from './drv-name.js';

describe('parseDrvName', () => {
  it.each([
    ['hello-2.12.1', 'hello', '2.12.1'],
    ['bash-interactive-5.2p26', 'bash-interactive', '5.2p26'],
    ['glibc-2.39-52-bin', 'glibc', '2.39-52-bin'],
    ['python3.11-requests-2.31.0', 'python3.11-requests', '2.31.0'],
    ['hello', 'hello', ''],
    ['nix-shell-env', 'nix-shell-env', ''],
    ['font-a-1', 'font-a', '1'],
    ['a--b', 'a', '-b'],
    ['x-', 'x-', ''],
    ['app-1.0.drv', 'app', '1.0.drv'],
  ])('splits %s into %s and %s as builtins.parseDrvName does', (input, name, version) => {
    expect(parseDrvName(input)).toEqual({ name, version });
  });
});
