import { openConnection } from '@ts-container/api';
import type { Command } from '../context.js';

/**
 * `system dial-stdio`: relays stdin/stdout to the daemon, what `ssh host tsctr system dial-stdio`
 * runs on the remote end of an `ssh://` host (the docker CLI's command of the same name).
 */
export const dialStdioCommand: Command = {
  name: 'system dial-stdio',
  usage: 'system dial-stdio',
  description: 'Proxy the stdio stream to the daemon connection. Should not be invoked manually.',
  hidden: true,
  flags: [],
  maxArgs: 0,
  async run(ctx) {
    const endpoint = ctx.client.endpoint;
    const conn = await openConnection(endpoint);
    await new Promise<void>((resolve, reject) => {
      // stdin's end half-closes the connection; the daemon's end ends the relay.
      ctx.io.stdin.pipe(conn);
      conn.pipe(ctx.io.stdout, { end: false });
      conn.once('end', () => resolve());
      conn.once('close', () => resolve());
      conn.once('error', reject);
    });
    return 0;
  },
};
