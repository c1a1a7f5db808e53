import { PassThrough, type Readable } from 'node:stream';
import type { Logger } from '@ts-container/common';
import type { ContainerRuntime } from '@ts-container/runtime';
import type { ContainerRecord, ContainerStore } from './container-store.js';
import type { ContainerService } from './containers.js';
import { EngineError } from './errors.js';

export interface StdinBrokerDeps {
  containers: Pick<ContainerService, 'get' | 'events'>;
  store: Pick<ContainerStore, 'find'>;
  runtime: Pick<ContainerRuntime, 'attachStdin' | 'exitStatus'>;
  logger: Logger;
}

/** What an attached client holds: see {@link StdinBroker.attach}. */
export interface StdinAttachment {
  /** Stops feeding the container (detach keys); its stdin stays open for the next client. */
  detach(): void;
  /**
   * Resolves when the client's input has ended (or it detached); rejects when its input could
   * not be delivered (conmon's attach socket gone or refusing, a write that failed).
   */
  ended: Promise<void>;
}

/** The connection to one container's stdin, shared by its attached clients. */
interface Connection {
  sink: PassThrough;
  /** Settles once conmon has taken the connection, or it failed. */
  connected: Promise<void>;
  /** Told when the container's stdin can no longer be fed. */
  failed: Set<(err: Error) => void>;
}

/**
 * One stdin per running container: attached clients write into it; it is connected to the
 * container's stdin (conmon's attach socket) for as long as the container runs. A client that
 * ends its input closes the container's stdin when the container was created with StdinOnce
 * (`docker run -i`); a client that detaches leaves it open for the next `attach`.
 */
export class StdinBroker {
  private readonly streams = new Map<string, Connection>();

  constructor(private readonly deps: StdinBrokerDeps) {
    deps.containers.events.on('die', (r: ContainerRecord) => this.close(r.Id));
  }

  /**
   * Connects `input` to the container's stdin until `input` ends or the caller stops early
   * with `detach()`. Waits for a created container to start. For a running container it
   * resolves once the container's stdin is connected, and rejects (before the caller has
   * answered its client) when it cannot be.
   */
  async attach(ref: string, input: Readable): Promise<StdinAttachment> {
    let c = this.deps.containers.get(ref);
    if (!c.Config.OpenStdin) {
      input.resume();
      return { detach() {}, ended: Promise.resolve() };
    }
    if (!c.State.Running) {
      await this.started(c.Id);
      const found = this.deps.store.find(c.Id);
      if (!found?.State.Running) {
        input.resume();
        return { detach() {}, ended: Promise.resolve() };
      }
      c = found;
    }
    const id = c.Id;
    const stdinOnce = c.Config.StdinOnce ?? false;
    const connection = this.open(id);
    await connection.connected;
    const { sink } = connection;
    let detached = false;
    let onFailed: (err: Error) => void = () => undefined;
    const ended = new Promise<void>((resolve, reject) => {
      const finish = () => {
        connection.failed.delete(onFailed);
        input.unpipe(sink);
        if (!detached && stdinOnce) this.close(id);
        resolve();
      };
      onFailed = (err: Error) => {
        connection.failed.delete(onFailed);
        input.off('end', finish).off('error', finish).off('close', finish);
        input.unpipe(sink);
        input.resume(); // what the client still sends goes nowhere, and never blocks it
        reject(err);
      };
      input.once('end', finish);
      input.once('error', finish);
      input.once('close', finish);
    });
    connection.failed.add(onFailed);
    input.pipe(sink, { end: false });
    return {
      detach: () => {
        detached = true;
        connection.failed.delete(onFailed);
        input.unpipe(sink);
        input.resume();
      },
      ended,
    };
  }

  /** Resolves when the created container `id` has started, died or gone. */
  private started(id: string): Promise<void> {
    const events = this.deps.containers.events;
    return new Promise<void>((resolve) => {
      const onEvent = (r: ContainerRecord) => {
        if (r.Id !== id) return;
        events.off('start', onEvent);
        events.off('destroy', onEvent);
        events.off('die', onEvent);
        resolve();
      };
      events.on('start', onEvent);
      events.on('destroy', onEvent);
      events.on('die', onEvent);
    });
  }

  private open(id: string): Connection {
    const existing = this.streams.get(id);
    if (existing) return existing;
    const sink = new PassThrough();
    let settle: (err?: Error) => void = () => undefined;
    const connected = new Promise<void>((resolve, reject) => {
      settle = (err) => (err ? reject(err) : resolve());
    });
    // A failure after the connection is reported through `failed`, not as an unhandled rejection.
    connected.catch(() => undefined);
    const connection: Connection = { sink, connected, failed: new Set() };
    this.streams.set(id, connection);
    this.deps.runtime
      .attachStdin(id, sink, { onConnected: () => settle() })
      .then(
        () => settle(),
        async (e: unknown) => {
          if (this.streams.get(id) === connection) this.streams.delete(id);
          // The container has ended: its conmon closed the socket; the end of the attach says so.
          if (await this.deps.runtime.exitStatus(id).catch(() => undefined)) return settle();
          const err = new EngineError('system', (e as Error).message, { cause: e });
          this.deps.logger.warn(`stdin of ${id.slice(0, 12)}: ${err.message}`);
          settle(err);
          for (const notify of [...connection.failed]) notify(err);
        },
      )
      .finally(() => {
        if (this.streams.get(id) === connection) this.streams.delete(id);
      });
    return connection;
  }

  /** Closes the container's stdin (EOF). */
  close(id: string): void {
    const connection = this.streams.get(id);
    if (!connection) return;
    this.streams.delete(id);
    connection.sink.end();
  }
}
