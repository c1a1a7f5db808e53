import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/** A PEM certificate and its unencrypted key, as files. */
export interface IssuedCertificate {
  cert: string;
  key: string;
}

export interface CertificateAuthority extends IssuedCertificate {
  dir: string;
  /**
   * A certificate for `commonName` signed by this CA, written as `<name>-cert.pem` and
   * `<name>-key.pem`. `subjectAltNames` in openssl's words (`IP:127.0.0.1`, `DNS:localhost`).
   */
  issue(
    name: string,
    options: {
      commonName: string;
      subjectAltNames?: string[];
      extendedKeyUsage?: 'serverAuth' | 'clientAuth';
    },
  ): Promise<IssuedCertificate>;
}

/**
 * A throwaway certificate authority made with openssl in `dir` (`ca.pem`, `ca-key.pem`): RSA
 * 2048 keys, valid for two days, no passphrases.
 */
export async function makeCertificateAuthority(
  dir: string,
  options: { commonName?: string } = {},
): Promise<CertificateAuthority> {
  await mkdir(dir, { recursive: true });
  const ssl = (args: string[]) => execa('openssl', args, { cwd: dir });
  const days = ['-days', '2'];
  const newKey = (key: string) => ['-newkey', 'rsa:2048', '-nodes', '-keyout', key];
  await ssl([
    'req',
    '-x509',
    ...newKey('ca-key.pem'),
    '-out',
    'ca.pem',
    ...days,
    '-subj',
    `/CN=${options.commonName ?? 'tsctr test CA'}`,
  ]);
  const ca = { dir, cert: join(dir, 'ca.pem'), key: join(dir, 'ca-key.pem') };
  return {
    ...ca,
    async issue(name, { commonName, subjectAltNames, extendedKeyUsage }) {
      const extensions = [
        ...(subjectAltNames?.length ? [`subjectAltName=${subjectAltNames.join(',')}`] : []),
        ...(extendedKeyUsage ? [`extendedKeyUsage=${extendedKeyUsage}`] : []),
      ];
      await writeFile(join(dir, `${name}.ext`), `${extensions.join('\n')}\n`);
      await ssl(['req', ...newKey(`${name}-key.pem`), '-out', `${name}.csr`, '-subj', `/CN=${commonName}`]);
      await ssl([
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        ca.cert,
        '-CAkey',
        ca.key,
        '-CAcreateserial',
        '-out',
        `${name}-cert.pem`,
        ...days,
        '-extfile',
        `${name}.ext`,
      ]);
      return { cert: join(dir, `${name}-cert.pem`), key: join(dir, `${name}-key.pem`) };
    },
  };
}
