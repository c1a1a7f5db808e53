import { Snapshotter } from './snapshotter.js';
import { snapshotterConformance } from './testsuite.js';

// The same suite for every driver: what overlay does with kernel help, copy must match.
for (const driver of ['overlay', 'copy'] as const) {
  snapshotterConformance(driver, (root) => Snapshotter.open({ root, driver }));
}
