import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { readTar, writeTar } from './tar.js';

describe('the context archive tar', () => {
  it('writes what GNU tar reads, and reads it back', () => {
    const tar = writeTar([
      { name: 'meta.json', data: Buffer.from('{"Name":"x"}'), mode: 0o644 },
      { name: 'tls/', mode: 0o700 },
      { name: 'tls/docker/', mode: 0o700 },
      { name: 'tls/docker/ca.pem', data: Buffer.alloc(700, 65), mode: 0o600 },
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'tar-test-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'a.tar'), tar);
    expect(
      execFileSync('tar', ['-tf', join(dir, 'a.tar')], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean),
    ).toEqual(['meta.json', 'tls/', 'tls/docker/', 'tls/docker/ca.pem']);
    execFileSync('tar', ['-xf', join(dir, 'a.tar'), '-C', dir]);
    expect(readFileSync(join(dir, 'tls/docker/ca.pem')).length).toBe(700);
    const back = readTar(tar);
    expect(back.map((e) => [e.name, e.data?.length, e.mode])).toEqual([
      ['meta.json', 12, 0o644],
      ['tls/', undefined, 0o700],
      ['tls/docker/', undefined, 0o700],
      ['tls/docker/ca.pem', 700, 0o600],
    ]);
  });

  it('reads an archive that ends without the two zero blocks, as the docker CLI writes them', () => {
    const tar = writeTar([{ name: 'meta.json', data: Buffer.from('{}'), mode: 0o644 }]);
    expect(readTar(tar.subarray(0, 1024)).map((e) => e.name)).toEqual(['meta.json']);
  });
});
