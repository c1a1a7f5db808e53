import { type CommandContext, CommandError } from './context.js';

/** Reads one line from the CLI's stdin (the answer to a prompt); '' at EOF. */
export async function readLine(ctx: CommandContext): Promise<string> {
  const stdin = ctx.io.stdin;
  if (stdin.readableEnded) return '';
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer | string) => {
      text += chunk.toString();
      if (text.includes('\n')) done();
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.off('end', done);
      stdin.pause();
      resolve(text.split('\n')[0] ?? '');
    };
    stdin.on('data', onData);
    stdin.on('end', done);
    stdin.resume();
  });
}

/** Docker's `Are you sure you want to continue? [y/N]` after a warning; false unless y/yes. */
export async function confirm(ctx: CommandContext, warning: string): Promise<boolean> {
  ctx.io.stdout.write(`${warning}\nAre you sure you want to continue? [y/N] `);
  return /^y(es)?$/i.test((await readLine(ctx)).trim());
}

/** `--filter key=value` flags as the API's `filters` map. */
export function filtersMap(list: readonly string[]): Record<string, string[]> {
  const filters: Record<string, string[]> = {};
  for (const f of list) {
    const i = f.indexOf('=');
    if (i < 0) throw new CommandError('bad format of filter (expected name=value)');
    (filters[f.slice(0, i)] ??= []).push(f.slice(i + 1));
  }
  return filters;
}

/** `--filter key=value` flags as the `filters` query parameter (none when empty). */
export function filtersQuery(list: readonly string[]): Record<string, string> {
  const filters = filtersMap(list);
  return Object.keys(filters).length > 0 ? { filters: JSON.stringify(filters) } : {};
}
