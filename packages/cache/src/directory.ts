import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * Where strata keeps its cache: `$XDG_CACHE_HOME/strata`, or `~/.cache/strata` when XDG_CACHE_HOME
 * is unset or relative (the XDG base directory spec says to ignore a relative value).
 * @example defaultCacheDirectory() // '/home/alice/.cache/strata'
 */
export function defaultCacheDirectory(env: NodeJS.ProcessEnv = process.env, home: () => string = homedir): string {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(home(), '.cache'), 'strata');
}
