import type { EngineClient } from '@ts-container/api';
import type { Command } from '../context.js';
import { ContextStore, DEFAULT_CONTEXT } from '../docker-config.js';
import type { FlagSpec } from '../flags.js';

type Kind = 'container' | 'image' | 'network' | 'volume' | 'context';

/** What the first argument of a command names (the rest: containers for network connect). */
const ARGUMENT_KINDS: Record<string, Kind> = {
  ...Object.fromEntries(
    'start stop restart kill rm wait rename logs inspect exec attach stats pause unpause top diff commit export cp port update'
      .split(' ')
      .map((n) => [n, 'container' as const]),
  ),
  rmi: 'image',
  tag: 'image',
  history: 'image',
  'image inspect': 'image',
  push: 'image',
  save: 'image',
  run: 'image',
  create: 'image',
  'network rm': 'network',
  'network inspect': 'network',
  'network connect': 'network',
  'network disconnect': 'network',
  'volume rm': 'volume',
  'volume inspect': 'volume',
  'context use': 'context',
  'context rm': 'context',
  'context inspect': 'context',
  'context export': 'context',
  'context update': 'context',
};

/** Flags whose value names an object. */
const FLAG_KINDS: Record<string, Kind> = {
  '--network': 'network',
  '--net': 'network',
  '--volumes-from': 'container',
  '--context': 'context',
  '-c': 'context',
};

export interface CompletionOptions {
  client: EngineClient | undefined;
  program: string;
  configDir: string;
  globalFlags: FlagSpec[];
  commands: Command[];
  groups: Record<string, { commands: string[] }>;
  findCommand: (words: string[]) => { command: Command; consumed: number } | undefined;
}

async function names(kind: Kind, options: CompletionOptions): Promise<string[]> {
  if (kind === 'context')
    return [DEFAULT_CONTEXT, ...(await new ContextStore(options.configDir).list()).map((c) => c.name)];
  const client = options.client;
  if (!client) return [];
  switch (kind) {
    case 'container': {
      const list = await client.request<{ Names: string[] }[]>('GET', '/containers/json', {
        query: { all: 1 },
      });
      return list.flatMap((c) => c.Names.map((n) => n.replace(/^\//, '')));
    }
    case 'image': {
      const list = await client.request<{ RepoTags: string[] | null }[]>('GET', '/images/json');
      return list.flatMap((i) => (i.RepoTags ?? []).filter((t) => !t.startsWith('<none>')));
    }
    case 'network':
      return (await client.request<{ Name: string }[]>('GET', '/networks')).map((n) => n.Name);
    case 'volume':
      return (
        (await client.request<{ Volumes: { Name: string }[] | null }>('GET', '/volumes')).Volumes ?? []
      ).map((v) => v.Name);
  }
}

/**
 * The candidates for the last of `words` (the word being typed; the words before it are the
 * command line after the program and its global flags). Object names come from the daemon.
 */
export async function completeWords(words: string[], options: CompletionOptions): Promise<string[]> {
  const partial = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const matching = (list: string[]) => [...new Set(list)].filter((w) => w.startsWith(partial)).sort();
  if (before.length === 0) {
    return matching([
      ...options.commands.filter((c) => !c.name.includes(' ') && !c.hidden).map((c) => c.name),
      ...Object.keys(options.groups),
      'completion',
    ]);
  }
  if (before.length === 1 && options.groups[before[0]!])
    return matching(options.groups[before[0]!]!.commands);
  if (before[0] === 'completion') return before.length === 1 ? matching(['bash', 'fish', 'zsh']) : [];
  const found = options.findCommand(before);
  if (!found) return [];
  const { command } = found;
  const rest = before.slice(found.consumed);
  if (partial.startsWith('-'))
    return matching(command.flags.filter((f) => !f.hidden).map((f) => `--${f.name}`));
  const previous = rest.at(-1);
  const flagKind = previous ? FLAG_KINDS[previous] : undefined;
  if (flagKind) return matching(await names(flagKind, options));
  // Positionals typed so far (a value flag's value is not one).
  let positionals = 0;
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i]!;
    if (!w.startsWith('-')) positionals++;
    else if (!w.includes('=')) {
      const spec = command.flags.find((f) => `--${f.name}` === w || (f.short && `-${f.short}` === w));
      if (spec && spec.type !== 'bool') i++;
    }
  }
  const kind = ARGUMENT_KINDS[command.name];
  if (!kind) return [];
  if (kind === 'network' && positionals >= 1 && /connect$/.test(command.name))
    return positionals === 1 ? matching(await names('container', options)) : [];
  // run/create: only the image; the words after it are the container's command.
  if ((command.name === 'run' || command.name === 'create') && positionals > 0) return [];
  return matching(await names(kind, options));
}

/** The script `completion bash|zsh|fish` prints: each shell asks `tsctr __complete WORDS…`. */
export function completionScript(shell: 'bash' | 'zsh' | 'fish', program: string): string {
  const fn = `_${program.replace(/[^A-Za-z0-9_]/g, '_')}`;
  switch (shell) {
    case 'bash':
      return `# bash completion for ${program}: source <(${program} completion bash)
${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]}
  local IFS=$'\\n'
  COMPREPLY=( $(compgen -W "$(${program} __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)" -- "$cur") )
}
complete -o default -F ${fn} ${program}
`;
    case 'zsh':
      return `#compdef ${program}
# zsh completion for ${program}: source <(${program} completion zsh)
${fn}() {
  local -a candidates
  candidates=("\${(@f)$(${program} __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -- \${candidates:#}
}
if [ "$funcstack[1]" = "${fn}" ]; then
  ${fn} "$@"
else
  compdef ${fn} ${program}
fi
`;
    case 'fish':
      return `# fish completion for ${program}: ${program} completion fish | source
complete -c ${program} -f -a '(${program} __complete (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
`;
  }
}
