import type { Heredoc } from './arguments.js';

/** The typed instructions the instruction layer (instructions.ts) makes from the syntax tree. */

export interface Base {
  /** 1-based first and last physical line. */
  line: number;
  endLine: number;
  /** The logical line as written (continuations joined), e.g. `COPY --from=build /a /b`. */
  original: string;
}

export interface FromInstruction extends Base {
  kind: 'FROM';
  image: string;
  /** Lower-cased stage name from `AS name`. */
  stageName?: string;
  platform?: string;
}
export interface RunInstruction extends Base {
  kind: 'RUN';
  /** Shell form: one string; exec form: the argv. */
  command: string[];
  /** Shell form: the command runs through the image's SHELL. */
  prependShell: boolean;
  heredocs: Heredoc[];
  mounts: string[];
  network?: string;
  security?: string;
}
export interface CmdInstruction extends Base {
  kind: 'CMD' | 'ENTRYPOINT';
  command: string[];
  prependShell: boolean;
}
export interface KeyValue {
  key: string;
  /** As written (quotes and escapes kept): substitute with `expandWord` before use. */
  value: string;
}
export interface EnvInstruction extends Base {
  kind: 'ENV' | 'LABEL';
  pairs: KeyValue[];
}
export interface ArgInstruction extends Base {
  kind: 'ARG';
  args: { key: string; value?: string }[];
}
export interface ListInstruction extends Base {
  kind: 'EXPOSE' | 'VOLUME';
  values: string[];
}
export interface StringInstruction extends Base {
  kind: 'USER' | 'WORKDIR' | 'STOPSIGNAL' | 'MAINTAINER';
  value: string;
}
export interface CopyInstruction extends Base {
  kind: 'COPY' | 'ADD';
  /** Sources as written; a heredoc source appears as its marker (`<<EOF`). */
  sources: string[];
  /** Sources that are heredocs (inline files), by marker name. */
  heredocs: Heredoc[];
  dest: string;
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  keepGitDir?: boolean;
  checksum?: string;
}
export interface OnbuildInstruction extends Base {
  kind: 'ONBUILD';
  /** The trigger as written, e.g. `RUN echo hi` (what Docker stores in the image's OnBuild). */
  expression: string;
  trigger: Instruction;
}
export interface HealthcheckInstruction extends Base {
  kind: 'HEALTHCHECK';
  /** `["NONE"]`, `["CMD", ...argv]` or `["CMD-SHELL", "command"]`. */
  test: string[];
  /** Durations in nanoseconds, as the image config stores them; 0 = not set. */
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}
export interface ShellInstruction extends Base {
  kind: 'SHELL';
  shell: string[];
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | EnvInstruction
  | ArgInstruction
  | ListInstruction
  | StringInstruction
  | CopyInstruction
  | OnbuildInstruction
  | HealthcheckInstruction
  | ShellInstruction;

export type InstructionKind = Instruction['kind'];
