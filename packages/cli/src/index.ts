export { type CliOptions, loadCommands, runCli } from './cli.js';
export { type CliIO, type Command, type CommandContext, CommandError } from './context.js';
export { parseBytes, parseDuration, parsePublish, parseRestart } from './container-options.js';
export { buildCreateRequest } from './create-request.js';
export { FlagError, type FlagSpec, type FlagValues, parseFlags } from './flags.js';
export { formatList, timeAgo } from './format.js';
export { renderTable } from './table.js';
export { renderTemplate, TemplateError } from './template.js';
export { formatValue } from './template-funcs.js';
