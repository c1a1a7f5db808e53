import { DEFAULT_SOCKET, type DaemonUnreachableError } from '@ts-container/api';

/** Docker's words with tsctr's names, and how to start the daemon or why its socket is closed. */
export function unreachableMessage(err: DaemonUnreachableError, program: string): string {
  const message = err.message.replace(/docker daemon/gi, `${program} daemon`);
  if (err.reason === 'permission')
    return `${message}\nThe socket is only open to root: run ${program} as root (sudo ${program} …).`;
  if (!err.host.startsWith('unix://')) return message;
  const flag = err.host === `unix://${DEFAULT_SOCKET}` ? '' : ` -H ${err.host}`;
  return `${message}\nStart it as root with: tsctrd${flag} &`;
}
