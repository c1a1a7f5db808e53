import { vitestConfig } from '../../vitest.shared.ts';

// Publishing every package and installing from the local registry takes a minute or two.
export default vitestConfig({ testTimeout: 300_000 });
