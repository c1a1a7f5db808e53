/** A container's health check settings (Docker's HealthConfig; durations in nanoseconds). */
export interface Healthcheck {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

/** The command a health check runs, or undefined when there is none (`NONE`, empty). */
export function healthCommand(check: Healthcheck | undefined): string[] | undefined {
  const test = check?.Test;
  if (!test || test.length === 0 || test[0] === 'NONE') return undefined;
  if (test[0] === 'CMD-SHELL') return ['/bin/sh', '-c', test.slice(1).join(' ')];
  if (test[0] === 'CMD') return test.slice(1);
  return test;
}
