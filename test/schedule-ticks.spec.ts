import { InvalidJobError } from '../lib';
import { validateScheduleOptions } from '../lib/schedules/schedule-options.validator';
import { firstTick, tickAfter } from '../lib/schedules/schedule-ticks';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** The ticks after `from`, one after another, as ISO strings. */
function ticks(
  opts: Parameters<typeof tickAfter>[0],
  from: string,
  n: number,
  anchor = at(from),
): Array<string | undefined> {
  const out: Array<string | undefined> = [];
  let after = at(from);
  for (let i = 0; i < n; i++) {
    const next = tickAfter(opts, anchor, after);
    out.push(iso(next));
    if (next === undefined) break;
    after = next;
  }
  return out;
}

describe('schedule ticks', () => {
  describe('cron in a time zone across DST (Europe/Berlin)', () => {
    it('spring-forward: a skipped local time fires once, shifted; hourly ticks stay one real hour apart', () => {
      // 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 local does not exist that day.
      expect(ticks({ cron: '30 2 * * *', tz: 'Europe/Berlin' }, '2026-03-28T12:00:00Z', 3)).toEqual([
        '2026-03-29T01:30:00.000Z', // 03:30 CEST
        '2026-03-30T00:30:00.000Z', // 02:30 CEST
        '2026-03-31T00:30:00.000Z',
      ]);
      expect(ticks({ cron: '0 * * * *', tz: 'Europe/Berlin' }, '2026-03-29T00:30:00Z', 3)).toEqual([
        '2026-03-29T01:00:00.000Z', // 03:00 CEST (02:00 local skipped)
        '2026-03-29T02:00:00.000Z',
        '2026-03-29T03:00:00.000Z',
      ]);
    });

    it('fall-back: a repeated local time fires once; a daily job keeps its local time', () => {
      // 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 local happens twice.
      expect(ticks({ cron: '30 2 * * *', tz: 'Europe/Berlin' }, '2026-10-24T12:00:00Z', 3)).toEqual([
        '2026-10-25T00:30:00.000Z', // 02:30 CEST, the first occurrence only
        '2026-10-26T01:30:00.000Z', // 02:30 CET
        '2026-10-27T01:30:00.000Z',
      ]);
      expect(ticks({ cron: '0 3 * * *', tz: 'Europe/Berlin' }, '2026-10-24T12:00:00Z', 2)).toEqual([
        '2026-10-25T02:00:00.000Z', // 03:00 CET
        '2026-10-26T02:00:00.000Z',
      ]);
    });

    it('defaults to UTC and accepts 6 fields (seconds first)', () => {
      expect(ticks({ cron: '0 3 * * *' }, '2026-10-24T12:00:00Z', 1)).toEqual(['2026-10-25T03:00:00.000Z']);
      expect(ticks({ cron: '*/20 * * * * *' }, '2026-01-01T00:00:00.500Z', 3)).toEqual([
        '2026-01-01T00:00:20.000Z',
        '2026-01-01T00:00:40.000Z',
        '2026-01-01T00:01:00.000Z',
      ]);
    });
  });

  describe('everyMs', () => {
    it('ticks at the anchor, then every everyMs, strictly after the given time', () => {
      const anchor = at('2026-01-01T00:00:00Z');
      expect(firstTick({ everyMs: 1_000 }, anchor, anchor)).toBe(anchor);
      expect(tickAfter({ everyMs: 1_000 }, anchor, anchor)).toBe(anchor + 1_000);
      // Missed ticks collapse: the next one is the first on the grid after `after`.
      expect(tickAfter({ everyMs: 1_000 }, anchor, anchor + 10_400)).toBe(anchor + 11_000);
    });

    it('honours startAt and endAt', () => {
      const start = at('2026-01-01T00:00:10Z');
      expect(firstTick({ everyMs: 1_000, startAt: start }, start, at('2026-01-01T00:00:00Z'))).toBe(start);
      expect(tickAfter({ everyMs: 1_000, endAt: start + 1_500 }, start, start + 1_000)).toBeUndefined();
      expect(tickAfter({ cron: '0 3 * * *', startAt: at('2026-02-01T00:00:00Z') }, 0, at('2026-01-01T00:00:00Z'))).toBe(
        at('2026-02-01T03:00:00Z'),
      );
    });
  });

  describe('validation', () => {
    it.each([
      ['a bad cron', { cron: '0 25 * * *' }],
      ['too few fields', { cron: '* * * *' }],
      ['too many fields', { cron: '0 0 0 * * * *' }],
      ['a bad time zone', { cron: '0 3 * * *', tz: 'Europe/Atlantis' }],
      ['tz without cron', { everyMs: 1_000, tz: 'UTC' }],
      ['both kinds', { cron: '0 3 * * *', everyMs: 1_000 }],
      ['neither kind', {}],
      ['an unknown option', { everyMs: 1_000, every: 5 }],
      ['endAt before startAt', { everyMs: 1_000, startAt: 10, endAt: 5 }],
    ])('refuses %s', (_why, opts) => {
      expect(() => validateScheduleOptions(opts as never)).toThrow(InvalidJobError);
    });

    it('says what to do in the message', () => {
      expect(() => validateScheduleOptions({ cron: '0 25 * * *' })).toThrow(
        /valid 5- or 6-field cron expression .*'0 3 \* \* \*'/,
      );
      expect(() => validateScheduleOptions({ cron: '0 3 * * *', tz: 'Nowhere' })).toThrow(/IANA time zone/);
    });
  });
});
