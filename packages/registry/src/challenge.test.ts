import { describe, expect, it } from 'vitest';
import { parseChallenges, pickChallenge } from './challenge.js';

describe('parseChallenges', () => {
  it('reads a Bearer challenge with a comma inside a quoted scope and an error parameter', () => {
    const [c] = parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="insufficient_scope"');
    expect(c).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push', error: 'insufficient_scope' },
    });
  });

  it('splits several challenges in one header and across headers, case-insensitively', () => {
    const list = parseChallenges(['Negotiate abc==, BASIC realm=simple', 'bEaReR realm="https://x/t" , service=svc']);
    expect(list.map((c) => c.scheme)).toEqual(['negotiate', 'basic', 'bearer']);
    expect(list[0]!.token68).toBe('abc==');
    expect(list[1]!.params).toEqual({ realm: 'simple' });
    expect(list[2]!.params).toEqual({ realm: 'https://x/t', service: 'svc' });
  });

  it('unescapes backslashes in quoted values and lowercases parameter names', () => {
    const [c] = parseChallenges('Basic Realm="say \\"hi\\", then \\\\ go"');
    expect(c!.params).toEqual({ realm: 'say "hi", then \\ go' });
  });

  it('prefers Bearer, then Basic', () => {
    expect(pickChallenge(parseChallenges('Basic realm=a, Bearer realm=b'))?.scheme).toBe('bearer');
    expect(pickChallenge(parseChallenges('Digest realm=a, Basic realm=b'))?.scheme).toBe('basic');
    expect(pickChallenge(parseChallenges('Digest realm=a'))).toBeUndefined();
  });
});
