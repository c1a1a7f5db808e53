import { overlayLayerTar, readXattrs } from './dist/index.js';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
const dir = '/tmp/hc/micro/up';
async function time(label, fn, n = 7) {
  const t = [];
  for (let i = 0; i < n; i++) { const s = performance.now(); await fn(); t.push(performance.now() - s); }
  t.sort((a, b) => a - b);
  console.log(label, t.map((x) => x.toFixed(1)).join(' '), 'median', t[n >> 1].toFixed(1));
}
await time('readXattrs', () => readXattrs(dir));
await time('layerTar', async () => { const h = createHash('sha256'); for await (const c of overlayLayerTar(dir)) h.update(c); return h.digest('hex'); });
await time('cp -a', async () => { await execa('rm', ['-rf', '/tmp/hc/micro/cp']); await execa('mkdir', ['/tmp/hc/micro/cp']); await execa('cp', ['-a', '--reflink=auto', dir + '/.', '/tmp/hc/micro/cp/']); });
