import type { Command } from './context.js';

type Loader = () => Promise<Command[]>;

// Each module of commands is imported when one of its commands runs (or for the help and
// completion, which list them all): `tsctr ps` evaluates ps.ts and what it imports, not the
// image, registry and builder code of `pull` or `build`. The bundlers keep these imports inside
// the one bundled file (as functions that evaluate the module on first call).
const attach: Loader = async () => [(await import('./commands/attach.js')).attachCommand];
const build: Loader = async () => [(await import('./commands/build.js')).buildCommand];
const changes: Loader = async () => {
  const m = await import('./commands/changes.js');
  return [m.diffCommand, m.commitCommand, m.exportCommand, m.cpCommand];
};
const containers: Loader = async () => {
  const m = await import('./commands/containers.js');
  return [
    m.startCommand,
    m.stopCommand,
    m.restartCommand,
    m.killCommand,
    m.rmCommand,
    m.waitCommand,
    m.renameCommand,
    m.logsCommand,
    m.inspectCommand,
  ];
};
const context: Loader = async () => (await import('./commands/context.js')).CONTEXT_COMMANDS;
const dialStdio: Loader = async () => [(await import('./commands/dial-stdio.js')).dialStdioCommand];
const exec: Loader = async () => {
  const m = await import('./commands/exec.js');
  return [m.execCommand, m.pauseCommand, m.unpauseCommand, m.topCommand];
};
const imageArchive: Loader = async () => {
  const m = await import('./commands/image-archive.js');
  return [m.saveCommand, m.loadCommand, m.imagePruneCommand, m.systemDfCommand];
};
const images: Loader = async () => {
  const m = await import('./commands/images.js');
  return [
    m.imagesCommand,
    m.importCommand,
    m.rmiCommand,
    m.tagCommand,
    m.historyCommand,
    m.imageInspectCommand,
  ];
};
const maintenance: Loader = async () => (await import('./commands/maintenance.js')).MAINTENANCE_COMMANDS;
const network: Loader = async () => (await import('./commands/network.js')).NETWORK_COMMANDS;
const ps: Loader = async () => [(await import('./commands/ps.js')).psCommand];
const pull: Loader = async () => {
  const m = await import('./commands/pull.js');
  return [m.pullCommand, m.pushCommand];
};
const registry: Loader = async () => {
  const m = await import('./commands/registry.js');
  return [m.loginCommand, m.logoutCommand, m.searchCommand];
};
const run: Loader = async () => {
  const m = await import('./commands/run.js');
  return [m.runCommand, m.createCommand];
};
const stats: Loader = async () => [(await import('./commands/stats.js')).statsCommand];
const system: Loader = async () => {
  const m = await import('./commands/system.js');
  return [m.versionCommand, m.infoCommand];
};
const volume: Loader = async () => (await import('./commands/volume.js')).VOLUME_COMMANDS;

/** A command as the parser sees it before its module is loaded: its name, aliases and module. */
export interface CommandEntry {
  name: string;
  aliases: string[];
  load: Loader;
}

const entry = (load: Loader, name: string, ...aliases: string[]): CommandEntry => ({ name, aliases, load });

/** Every command, in the main help's order (a unit test checks it against the modules). */
export const COMMAND_TABLE: CommandEntry[] = [
  entry(run, 'run'),
  entry(run, 'create'),
  entry(containers, 'start'),
  entry(containers, 'stop'),
  entry(containers, 'restart'),
  entry(containers, 'kill'),
  entry(containers, 'rm', 'container rm', 'container remove'),
  entry(containers, 'wait'),
  entry(containers, 'rename'),
  entry(ps, 'ps', 'container ls', 'container list', 'container ps'),
  entry(containers, 'logs'),
  entry(containers, 'inspect', 'container inspect'),
  entry(images, 'images', 'image ls', 'image list'),
  entry(images, 'import', 'image import'),
  entry(pull, 'pull', 'image pull'),
  entry(exec, 'exec', 'container exec'),
  entry(attach, 'attach', 'container attach'),
  entry(stats, 'stats', 'container stats'),
  entry(exec, 'pause', 'container pause'),
  entry(exec, 'unpause', 'container unpause'),
  entry(exec, 'top', 'container top'),
  entry(changes, 'diff', 'container diff'),
  entry(changes, 'commit', 'container commit'),
  entry(changes, 'export', 'container export'),
  entry(changes, 'cp', 'container cp'),
  entry(pull, 'push', 'image push'),
  entry(registry, 'login'),
  entry(registry, 'logout'),
  entry(registry, 'search'),
  entry(images, 'rmi', 'image rm', 'image remove'),
  entry(images, 'tag', 'image tag'),
  entry(images, 'history', 'image history'),
  entry(images, 'image inspect'),
  entry(imageArchive, 'save', 'image save'),
  entry(imageArchive, 'load', 'image load'),
  entry(imageArchive, 'image prune'),
  entry(imageArchive, 'system df'),
  entry(build, 'build', 'image build', 'builder build'),
  entry(system, 'version'),
  entry(system, 'info', 'system info'),
  entry(network, 'network create'),
  entry(network, 'network ls', 'network list'),
  entry(network, 'network inspect'),
  entry(network, 'network rm', 'network remove'),
  entry(network, 'network prune'),
  entry(network, 'network connect'),
  entry(network, 'network disconnect'),
  entry(network, 'port', 'container port'),
  entry(maintenance, 'update', 'container update'),
  entry(maintenance, 'events', 'system events'),
  entry(maintenance, 'container prune'),
  entry(maintenance, 'system prune'),
  entry(volume, 'volume create'),
  entry(volume, 'volume ls', 'volume list'),
  entry(volume, 'volume inspect'),
  entry(volume, 'volume rm', 'volume remove'),
  entry(volume, 'volume prune'),
  entry(context, 'context create'),
  entry(context, 'context ls', 'context list'),
  entry(context, 'context inspect'),
  entry(context, 'context use'),
  entry(context, 'context show'),
  entry(context, 'context rm', 'context remove'),
  entry(context, 'context update'),
  entry(context, 'context export'),
  entry(context, 'context import'),
  entry(dialStdio, 'system dial-stdio'),
];

/** Finds the command for `argv` (also two-word forms such as `container ls`), before loading it. */
export function findEntry(words: string[]): { entry: CommandEntry; consumed: number } | undefined {
  for (const take of [2, 1]) {
    const key = words.slice(0, take).join(' ');
    if (words.length < take) continue;
    const entry = COMMAND_TABLE.find((c) => c.name === key || c.aliases.includes(key));
    if (entry) return { entry, consumed: take };
    if (take === 2 && ['container', 'image'].includes(words[0]!)) {
      const single = COMMAND_TABLE.find(
        (c) =>
          c.name === words[1] &&
          (words[0] === 'container'
            ? !c.name.startsWith('image')
            : ['images', 'pull', 'rmi', 'tag', 'history', 'import'].includes(c.name)),
      );
      if (single) return { entry: single, consumed: 2 };
    }
  }
  return undefined;
}

/** Finds the command for `argv` among loaded commands (completion's lookup). */
export function findCommand(
  words: string[],
  commands: Command[],
): { command: Command; consumed: number } | undefined {
  const found = findEntry(words);
  const command = found && commands.find((c) => c.name === found.entry.name);
  return command && { command, consumed: found.consumed };
}

/** The command of one entry (loads its module). */
export async function loadCommand(entry: CommandEntry): Promise<Command> {
  const command = (await entry.load()).find((c) => c.name === entry.name);
  if (!command) throw new Error(`command table: no command ${entry.name} in its module`);
  return command;
}

/** Every command, in the table's order (loads every module: for the help and completion). */
export function loadCommands(): Promise<Command[]> {
  return Promise.all(COMMAND_TABLE.map(loadCommand));
}
