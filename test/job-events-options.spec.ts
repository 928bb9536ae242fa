import { JobQueueConfigError } from '../lib';
import { DEFAULT_DISCONNECT_GRACE_MS, resolveJobEventsOptions } from '../lib/events/job-events.options';

describe('@JobEvents options', () => {
  it('applies the defaults', () => {
    expect(resolveJobEventsOptions({})).toEqual({
      cancelOnDisconnect: false,
      heartbeatMs: 15_000,
      idParam: 'id',
      idsQuery: undefined,
      retryMs: undefined,
      namedEvents: true,
    });
  });

  it('cancelOnDisconnect: true waits the default grace, longer than a browser reconnect; { graceMs: 0 } cancels at once', () => {
    expect(resolveJobEventsOptions({ cancelOnDisconnect: true }).cancelOnDisconnect).toEqual({
      graceMs: DEFAULT_DISCONNECT_GRACE_MS,
    });
    expect(DEFAULT_DISCONNECT_GRACE_MS).toBeGreaterThan(3_000);
    expect(resolveJobEventsOptions({ cancelOnDisconnect: {} }).cancelOnDisconnect).toEqual({
      graceMs: DEFAULT_DISCONNECT_GRACE_MS,
    });
    expect(resolveJobEventsOptions({ cancelOnDisconnect: { graceMs: 0 } }).cancelOnDisconnect).toEqual({ graceMs: 0 });
  });

  it.each([
    [{ heartbeatMs: -1 }, /'@JobEvents heartbeatMs' must be an integer from 0 to \d+ \(0 disables\); got -1/],
    [{ heartbeatMs: 1.5 }, /heartbeatMs.*got 1\.5/],
    [{ heartbeatMs: '5' as unknown as number }, /heartbeatMs.*got "5"/],
    [{ retryMs: 0 }, /'@JobEvents retryMs' must be an integer from 1 to/],
    [
      { cancelOnDisconnect: { graceMs: -5 } },
      /'@JobEvents cancelOnDisconnect.graceMs' must be an integer from 0 to \d+ \(0 cancels at once\)/,
    ],
    [
      { cancelOnDisconnect: { graceMs: 2_000 }, retryMs: 2_000 },
      /graceMs \(2000\) must be longer than retryMs \(2000\)/,
    ],
  ])('refuses %j', (options, message) => {
    expect(() => resolveJobEventsOptions(options)).toThrow(JobQueueConfigError);
    expect(() => resolveJobEventsOptions(options)).toThrow(message);
  });
});
