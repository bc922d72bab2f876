import type { Credential } from './credentials.js';
import { RegistryError, RegistryHttpError } from './errors.js';

/**
 * Remembers every secret a client holds (passwords, `user:password` as Basic sends it, tokens) and
 * removes them from text before it reaches an error: whatever a server sends back (error bodies,
 * challenges, echoed headers) passes through here, so no secret can be quoted by accident.
 */
export class Redactor {
  readonly #secrets = new Set<string>();

  /** Adds secrets, also in the encodings they travel in (base64, URL encoding). */
  add(...values: (string | undefined)[]): void {
    for (const value of values) {
      if (!value) continue;
      for (const form of [value, Buffer.from(value).toString('base64'), encodeURIComponent(value)]) this.#secrets.add(form);
    }
  }

  /** Adds what a credential would reveal. */
  addCredential(credential: Credential | undefined): void {
    if (!credential) return;
    if (credential.kind === 'basic') this.add(credential.password, `${credential.username}:${credential.password}`);
    else this.add(credential.token);
  }

  /**
   * The text with every known secret replaced by `***` (longest first, so a secret's part never
   * survives). A very short secret is replaced only where it stands alone: as part of a word it
   * reveals nothing, and replacing every `p` would garble the message.
   */
  scrub(text: string): string {
    let out = text;
    for (const secret of [...this.#secrets].sort((a, b) => b.length - a.length)) {
      if (secret.length >= 6) out = out.split(secret).join('***');
      else out = out.replace(new RegExp(`(?<![A-Za-z0-9])${secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![A-Za-z0-9])`, 'g'), '***');
    }
    return out;
  }

  /** Scrubs an error's message (and a registry error's server-sent details) in place; returns it. */
  scrubError<E>(error: E): E {
    if (!(error instanceof Error) || this.#secrets.size === 0) return error;
    error.message = this.scrub(error.message);
    if (error.stack) error.stack = this.scrub(error.stack);
    if (error instanceof RegistryHttpError) {
      const errors = error.errors.map((e) => ({ code: e.code, ...(e.message ? { message: this.scrub(e.message) } : {}), ...(e.detail !== undefined ? { detail: this.scrub(JSON.stringify(e.detail)) } : {}) }));
      Object.defineProperty(error, 'errors', { value: errors });
    }
    if (error.cause instanceof RegistryError) this.scrubError(error.cause);
    return error;
  }
}
