import { API_VERSION, DaemonUnreachableError } from '@ts-container/api';
import { type Command, write } from '../context.js';
import { unreachableMessage } from '../messages.js';
import { renderTemplate } from '../template.js';
import { CLIENT_VERSION } from '../version.js';

export { CLIENT_VERSION };

export const versionCommand: Command = {
  name: 'version',
  usage: 'version [OPTIONS]',
  description: 'Show the tsctr version information',
  flags: [
    { name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    const client = {
      Version: CLIENT_VERSION,
      ApiVersion: ctx.client.version,
      DefaultAPIVersion: API_VERSION,
      GoVersion: `node${process.versions.node}`,
      Os: 'linux',
      Arch: process.arch === 'x64' ? 'amd64' : process.arch,
      Context: ctx.contextName,
    };
    let server: Record<string, unknown> | undefined;
    let serverError: Error | undefined;
    try {
      server = await ctx.client.serverVersion();
    } catch (err) {
      serverError = err as Error;
    }
    if (flags.format) {
      write(ctx.io.stdout, renderTemplate(flags.format as string, { Client: client, Server: server }));
      if (serverError) write(ctx.io.stderr, serverMessage(serverError, ctx.program));
      return serverError ? 1 : 0;
    }
    write(
      ctx.io.stdout,
      [
        'Client:',
        ` Version:           ${client.Version}`,
        ` API version:       ${client.ApiVersion}`,
        ` Node version:      ${process.versions.node}`,
        ` OS/Arch:           ${client.Os}/${client.Arch}`,
        ` Context:           ${client.Context}`,
      ].join('\n'),
    );
    if (server) {
      write(
        ctx.io.stdout,
        [
          '',
          `Server: ${(server.Platform as { Name?: string } | undefined)?.Name ?? 'ts-container Engine'}`,
          ' Engine:',
          `  Version:          ${server.Version}`,
          `  API version:      ${server.ApiVersion} (minimum version ${server.MinAPIVersion})`,
          `  OS/Arch:          ${server.Os}/${server.Arch}`,
          `  Kernel:           ${server.KernelVersion}`,
        ].join('\n'),
      );
    }
    if (serverError) {
      write(ctx.io.stderr, serverMessage(serverError, ctx.program));
      return 1;
    }
    return 0;
  },
};

export const infoCommand: Command = {
  name: 'info',
  aliases: ['system info'],
  usage: 'info [OPTIONS]',
  description: 'Display system-wide information',
  flags: [
    { name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    const info = await ctx.client.info();
    if (flags.format) {
      write(ctx.io.stdout, renderTemplate(flags.format as string, info));
      return 0;
    }
    const lines = [
      'Server:',
      ` Containers: ${info.Containers}`,
      `  Running: ${info.ContainersRunning}`,
      `  Paused: ${info.ContainersPaused}`,
      `  Stopped: ${info.ContainersStopped}`,
      ` Images: ${info.Images}`,
      ` Server Version: ${info.ServerVersion}`,
      ` Storage Driver: ${info.Driver}`,
      ` Logging Driver: ${info.LoggingDriver}`,
      ` Cgroup Driver: ${info.CgroupDriver}`,
      ` Cgroup Version: ${info.CgroupVersion}`,
      ` Runtimes: ${Object.keys((info.Runtimes as object) ?? {}).join(' ')}`,
      ` Default Runtime: ${info.DefaultRuntime}`,
      ` Kernel Version: ${info.KernelVersion}`,
      ` Operating System: ${info.OperatingSystem}`,
      ` OSType: ${info.OSType}`,
      ` Architecture: ${info.Architecture}`,
      ` CPUs: ${info.NCPU}`,
      ` Total Memory: ${((info.MemTotal as number) / 1024 ** 3).toFixed(2)}GiB`,
      ` Name: ${info.Name}`,
      ` Docker Root Dir: ${info.DockerRootDir}`,
    ];
    for (const w of (info.Warnings as string[] | undefined) ?? []) lines.push(w);
    write(ctx.io.stdout, lines.join('\n'));
    return 0;
  },
};

function serverMessage(err: Error, program: string): string {
  return err instanceof DaemonUnreachableError ? unreachableMessage(err, program) : err.message;
}
