// Regenerates cases.json from the shared conformance set (buildkit's parser and shell test data,
// turned into neutral cases; see its SOURCE.md). Run: node src/conformance/vendor.mjs [DIR]
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '/work/shared/conformance/dockerfile-parser';
const neutral = join(dir, 'data', 'neutral');
const cases = [];
for (const f of readdirSync(neutral).sort()) {
  if (!f.endsWith('.json')) continue;
  const doc = JSON.parse(readFileSync(join(neutral, f), 'utf8'));
  if (Array.isArray(doc.cases)) {
    for (const { source: _s, ...c } of doc.cases)
      cases.push({ ...c, category: doc.category, kind: doc.kind });
  } else {
    const { source: _s, instructionExpect: _i, ...c } = doc;
    cases.push({ ...c, kind: 'parse' });
  }
}
const meta = {
  from: 'moby/buildkit frontend/dockerfile test data at 73ed6825c4b7569379ef89df0aedcdbe64473d31 (Apache-2.0), via the shared conformance set',
};
writeFileSync(new URL('./cases.json', import.meta.url), `${JSON.stringify({ meta, cases })}\n`);
console.log(`${cases.length} cases`);
