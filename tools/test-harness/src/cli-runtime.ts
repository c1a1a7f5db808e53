import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
/** The npm bin: the launcher of the Node bundle. */
export const CLI_BIN = join(REPO_ROOT, 'apps/cli/dist/index.js');

/** The single executable Bun compiles (`pnpm --filter @ts-container/tsctr compile`), what tools/bootstrap links. */
export const CLI_COMPILED = join(REPO_ROOT, 'apps/cli/compiled/tsctr');

/** One way to run `tsctr`: the compiled binary, or the npm bin (the Node bundle). */
export interface CliRuntime {
  name: 'compiled' | 'node';
  /** The program and the arguments before tsctr's own. */
  command: [string, ...string[]];
  /** The same, for `sh -c` lines. */
  shell: string;
}

export const NODE_CLI: CliRuntime = {
  name: 'node',
  command: [process.execPath, CLI_BIN],
  shell: `${process.execPath} ${CLI_BIN}`,
};

/** The compiled binary, unless absent, unwanted, or older than the bundle (it would test old code). */
function compiledCli(): CliRuntime | undefined {
  if (process.env.TSCTR_TEST_CLI === 'node' || !existsSync(CLI_COMPILED)) return undefined;
  const bundle = join(REPO_ROOT, 'apps/cli/dist/main.js');
  if (existsSync(bundle) && statSync(bundle).mtimeMs > statSync(CLI_COMPILED).mtimeMs) {
    console.warn(
      `tsctr e2e tests run the Node bundle: ${CLI_COMPILED} is older than ${bundle} (pnpm --filter @ts-container/tsctr compile)`,
    );
    return undefined;
  }
  return { name: 'compiled', command: [CLI_COMPILED], shell: CLI_COMPILED };
}

const COMPILED_CLI = compiledCli();

/**
 * The `tsctr` the end-to-end tests run: the compiled binary when it is built (as tools/bootstrap
 * links it), else the Node bundle. `TSCTR_TEST_CLI=node` picks the Node bundle.
 */
export const TSCTR: CliRuntime = COMPILED_CLI ?? NODE_CLI;

/** Every runtime built here, for the tests of what differs between them (transport, terminals). */
export const CLI_RUNTIMES: CliRuntime[] = COMPILED_CLI ? [COMPILED_CLI, NODE_CLI] : [NODE_CLI];

/** `[program, argv]` for execa/spawn: tsctr with `args`, through `runtime`. */
export function tsctrArgv(args: string[], runtime: CliRuntime = TSCTR): [string, string[]] {
  const [program, ...pre] = runtime.command;
  return [program, [...pre, ...args]];
}
