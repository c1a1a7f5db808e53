import { describe, expect, it } from 'vitest';
import { familiarName, formatReference, parseReference } from './reference.js';

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['user/app', 'docker.io/user/app:latest', 'user/app:latest'],
    ['localhost:5000/a/b:tag', 'localhost:5000/a/b:tag', 'localhost:5000/a/b:tag'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['127.0.0.1:5000/x', '127.0.0.1:5000/x:latest', '127.0.0.1:5000/x:latest'],
  ])('normalises %s', (input, full, familiar) => {
    const ref = parseReference(input);
    expect(formatReference(ref)).toBe(full);
    expect(familiarName(ref)).toBe(familiar);
  });

  it('keeps a digest without adding a tag', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const ref = parseReference(`busybox@${digest}`);
    expect(ref.tag).toBeUndefined();
    expect(ref.digest).toBe(digest);
  });

  it.each(['', 'UPPER', 'a//b', 'busybox:', '-busybox', 'bad name', 'a:b:c'])(
    'rejects %j like Docker',
    (input) => {
      expect(() => parseReference(input)).toThrow(/invalid reference format/);
    },
  );

  it('says an upper-case repository must be lowercase', () => {
    expect(() => parseReference('Busybox')).toThrow(
      'invalid reference format: repository name (library/Busybox) must be lowercase',
    );
  });
});
