import { EventEmitter } from 'node:events';
import { labelFilterMatches } from '@ts-container/api';
import type { ContainerRecord } from './container-store.js';
import { invalidParameter } from './errors.js';

/** What the container service emits as `event`. */
export interface ContainerEvent {
  Type: string;
  Action: string;
  id: string;
  record: Pick<ContainerRecord, 'Name' | 'Config' | 'State'>;
}

/** One message of `GET /events`, as Docker sends it. */
export interface EventMessage {
  status: string;
  id: string;
  from: string;
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  /** Exceeds 2^53: serialise it as the exact integer. */
  timeNano: bigint;
}

export interface EventWatch {
  filters?: Map<string, string[]>;
  /** Unix seconds: replay what the journal still holds from then on. */
  since?: number;
  /** Unix seconds: the watch ends then (at once when it is past). */
  until?: number;
}

const EVENT_FILTERS = new Set(['container', 'event', 'type', 'label', 'image', 'scope']);

/** The daemon's event journal: the last events, for `--since`, and a feed of new ones. */
export class EventJournal {
  private static readonly KEEP = 1024;
  private readonly messages: EventMessage[] = [];
  private readonly feed = new EventEmitter();

  constructor() {
    // Every `docker events` client is a listener.
    this.feed.setMaxListeners(0);
  }

  record(e: ContainerEvent, now = Date.now()): EventMessage {
    const image = e.record.Config.Image ?? '';
    const attributes: Record<string, string> = {
      ...((e.record.Config.Labels ?? {}) as Record<string, string>),
      image,
      name: e.record.Name.replace(/^\//, ''),
    };
    if (e.Action === 'die') attributes.exitCode = String(e.record.State.ExitCode ?? 0);
    const message: EventMessage = {
      status: e.Action,
      id: e.id,
      from: image,
      Type: e.Type,
      Action: e.Action,
      Actor: { ID: e.id, Attributes: attributes },
      scope: 'local',
      time: Math.floor(now / 1000),
      timeNano: BigInt(now) * 1_000_000n,
    };
    this.messages.push(message);
    if (this.messages.length > EventJournal.KEEP) this.messages.shift();
    this.feed.emit('message', message);
    return message;
  }

  /**
   * `docker events`: replays from `since`, then sends new messages that pass the filters until
   * `until` or until the returned `stop` is called; `onEnd` is called when `until` is reached.
   */
  watch(options: EventWatch, send: (m: EventMessage) => void, onEnd: () => void): () => void {
    const filters = options.filters ?? new Map<string, string[]>();
    for (const key of filters.keys())
      if (!EVENT_FILTERS.has(key)) throw invalidParameter(`invalid filter '${key}'`);
    const { since, until } = options;
    const pass = (m: EventMessage) => {
      if (matchesEventFilters(m, filters)) send(m);
    };
    if (since !== undefined)
      for (const m of this.messages)
        if (m.time >= Math.floor(since) && (until === undefined || m.time <= until)) pass(m);
    if (until !== undefined && until <= Date.now() / 1000) {
      onEnd();
      return () => {};
    }
    this.feed.on('message', pass);
    const timer = until !== undefined ? setTimeout(onEnd, until * 1000 - Date.now()).unref() : undefined;
    return () => {
      this.feed.off('message', pass);
      if (timer) clearTimeout(timer);
    };
  }
}

function matchesEventFilters(m: EventMessage, filters: Map<string, string[]>): boolean {
  for (const [key, values] of filters) {
    const test = (v: string): boolean => {
      switch (key) {
        case 'container':
          return m.id.startsWith(v) || m.Actor.Attributes.name === v;
        case 'event':
          return m.Action === v;
        case 'type':
          return m.Type === v;
        case 'image':
          return m.from === v || m.from === `${v}:latest`;
        case 'scope':
          return v === 'local';
        default:
          return labelFilterMatches(m.Actor.Attributes, v);
      }
    };
    if (!(key === 'label' ? values.every(test) : values.some(test))) return false;
  }
  return true;
}

/** `since`/`until` of `docker events`: Unix seconds (with an optional fraction), as the docker CLI sends them, or a date. */
export function eventTimestamp(value: string | null): number | undefined {
  if (value === null || value === '') return undefined;
  const n = Number(value);
  if (Number.isFinite(n)) return n;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw invalidParameter(`invalid timestamp: ${value}`);
  return t / 1000;
}
