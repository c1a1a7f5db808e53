import { PassThrough, type Readable } from 'node:stream';
import type { Logger } from '@ts-container/common';
import type { ContainerRuntime } from '@ts-container/runtime';
import type { ContainerRecord, ContainerStore } from './container-store.js';
import type { ContainerService } from './containers.js';

export interface StdinBrokerDeps {
  containers: Pick<ContainerService, 'get' | 'events'>;
  store: Pick<ContainerStore, 'find'>;
  runtime: Pick<ContainerRuntime, 'attachStdin'>;
  logger: Logger;
}

/**
 * One stdin per running container: attached clients write into it; it is connected to the
 * container's stdin (conmon's attach socket) for as long as the container runs. A client that
 * ends its input closes the container's stdin when the container was created with StdinOnce
 * (`docker run -i`); a client that detaches leaves it open for the next `attach`.
 */
export class StdinBroker {
  private readonly streams = new Map<string, PassThrough>();

  constructor(private readonly deps: StdinBrokerDeps) {
    deps.containers.events.on('die', (r: ContainerRecord) => this.close(r.Id));
  }

  /**
   * Connects `input` to the container's stdin until `input` ends (resolves `ended`) or the
   * caller stops early with `detach()`. Waits for a created container to start.
   */
  async attach(ref: string, input: Readable): Promise<{ detach(): void; ended: Promise<void> }> {
    let c = this.deps.containers.get(ref);
    if (!c.Config.OpenStdin) {
      input.resume();
      return { detach() {}, ended: Promise.resolve() };
    }
    if (!c.State.Running) {
      await new Promise<void>((resolve) => {
        const onEvent = (r: ContainerRecord) => {
          if (r.Id !== c.Id) return;
          this.deps.containers.events.off('start', onEvent);
          this.deps.containers.events.off('destroy', onEvent);
          this.deps.containers.events.off('die', onEvent);
          resolve();
        };
        this.deps.containers.events.on('start', onEvent);
        this.deps.containers.events.on('destroy', onEvent);
        this.deps.containers.events.on('die', onEvent);
      });
      const found = this.deps.store.find(c.Id);
      if (!found?.State.Running) {
        input.resume();
        return { detach() {}, ended: Promise.resolve() };
      }
      c = found;
    }
    const id = c.Id;
    const stdinOnce = c.Config.StdinOnce ?? false;
    const sink = this.open(id);
    let detached = false;
    const ended = new Promise<void>((resolve) => {
      const finish = () => {
        input.unpipe(sink);
        if (!detached && stdinOnce) this.close(id);
        resolve();
      };
      input.once('end', finish);
      input.once('error', finish);
      input.once('close', finish);
    });
    input.pipe(sink, { end: false });
    return {
      detach: () => {
        detached = true;
        input.unpipe(sink);
        input.resume();
      },
      ended,
    };
  }

  private open(id: string): PassThrough {
    let stream = this.streams.get(id);
    if (stream) return stream;
    stream = new PassThrough();
    this.streams.set(id, stream);
    const current = stream;
    this.deps.runtime
      .attachStdin(id, current)
      .catch((e: unknown) => this.deps.logger.warn(`stdin of ${id}: ${String(e)}`))
      .finally(() => {
        if (this.streams.get(id) === current) this.streams.delete(id);
      });
    return stream;
  }

  /** Closes the container's stdin (EOF). */
  close(id: string): void {
    const stream = this.streams.get(id);
    if (!stream) return;
    this.streams.delete(id);
    stream.end();
  }
}
