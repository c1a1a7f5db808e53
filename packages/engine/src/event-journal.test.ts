import { describe, expect, it, vi } from 'vitest';
import { type ContainerEvent, EventJournal, type EventMessage, eventTimestamp } from './event-journal.js';

const event = (action: string, name: string, labels: Record<string, string> = {}): ContainerEvent => ({
  Type: 'container',
  Action: action,
  id: `${name}`.padEnd(64, '0'),
  record: { Name: `/${name}`, Config: { Image: 'alpine', Labels: labels }, State: { ExitCode: 7 } } as never,
});

describe('EventJournal', () => {
  it('records messages as Docker sends them, with the exit code on die', () => {
    const journal = new EventJournal();
    const m = journal.record(event('die', 'web', { tier: 'front' }), 1_700_000_000_123);
    expect(m).toMatchObject({
      status: 'die',
      from: 'alpine',
      Type: 'container',
      Actor: { Attributes: { tier: 'front', image: 'alpine', name: 'web', exitCode: '7' } },
      time: 1_700_000_000,
      timeNano: 1_700_000_000_123_000_000n,
    });
  });

  it('replays from since, then feeds new messages through the filters until stopped', () => {
    const journal = new EventJournal();
    journal.record(event('create', 'old'));
    const seen: EventMessage[] = [];
    const stop = journal.watch(
      { since: 0, filters: new Map([['container', ['old', 'new']]]) },
      (m) => seen.push(m),
      () => {},
    );
    journal.record(event('start', 'new'));
    journal.record(event('start', 'other'));
    stop();
    journal.record(event('stop', 'new'));
    expect(seen.map((m) => `${m.Action} ${m.Actor.Attributes.name}`)).toEqual(['create old', 'start new']);
  });

  it('ends at once when until is past, and refuses unknown filters', () => {
    const journal = new EventJournal();
    const onEnd = vi.fn();
    journal.watch({ until: 1 }, () => {}, onEnd);
    expect(onEnd).toHaveBeenCalledOnce();
    expect(() => journal.watch({ filters: new Map([['colour', ['red']]]) }, () => {}, onEnd)).toThrow(
      "invalid filter 'colour'",
    );
  });

  it('reads since/until as Unix seconds or dates', () => {
    expect(eventTimestamp('0')).toBe(0);
    expect(eventTimestamp('')).toBeUndefined();
    expect(eventTimestamp('2024-01-01T00:00:00Z')).toBe(1704067200);
    expect(() => eventTimestamp('soon')).toThrow('invalid timestamp: soon');
  });
});
