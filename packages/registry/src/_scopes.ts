const ACTION_ORDER = ['pull', 'push', 'delete'];

/** A set of token scopes merged per resource (`repository:a:pull` + `repository:a:push` → `pull,push`). */
export class ScopeSet {
  readonly #resources = new Map<string, Set<string>>();

  /** Adds scopes like `repository:a/b:pull,push`; returns true when anything was new. */
  add(scopes: readonly string[]): boolean {
    let changed = false;
    for (const scope of scopes) {
      const cut = scope.lastIndexOf(':');
      if (cut === -1) continue;
      const resource = scope.slice(0, cut);
      const actions = this.#resources.get(resource) ?? new Set<string>();
      this.#resources.set(resource, actions);
      for (const a of scope.slice(cut + 1).split(',')) {
        if (a && !actions.has(a)) {
          actions.add(a);
          changed = true;
        }
      }
    }
    return changed;
  }

  /** True when every action of every scope is in this set. */
  covers(scopes: readonly string[]): boolean {
    return scopes.every((scope) => {
      const cut = scope.lastIndexOf(':');
      const actions = this.#resources.get(scope.slice(0, cut));
      return scope.slice(cut + 1).split(',').every((a) => !a || actions?.has(a));
    });
  }

  /** The scopes to send: merged, push scopes first ("a few registries just look at the first scope"). */
  list(): string[] {
    const rank = (a: string) => (ACTION_ORDER.includes(a) ? ACTION_ORDER.indexOf(a) : ACTION_ORDER.length);
    const entries = [...this.#resources].map(([resource, set]) => {
      const actions = [...set].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
      return { push: set.has('push'), scope: `${resource}:${actions.join(',')}` };
    });
    return entries.sort((a, b) => Number(b.push) - Number(a.push)).map((e) => e.scope);
  }

  /** A copy, frozen in time (what a token was issued for). */
  clone(): ScopeSet {
    const copy = new ScopeSet();
    copy.add(this.list());
    return copy;
  }
}

/** The scope for a repository and actions, e.g. `repository:a/b:pull,push`. */
export function repositoryScope(repository: string, ...actions: string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}
