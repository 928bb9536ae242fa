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
    expect(resolveJobEventsOptions({ cancelOnDisconnect: true }).cancelOnDisconnect).toEqual({ graceMs: DEFAULT_DISCONNECT_GRACE_MS });
    expect(DEFAULT_DISCONNECT_GRACE_MS).toBeGreaterThan(3_000);
    expect(resolveJobEventsOptions({ cancelOnDisconnect: {} }).cancelOnDisconnect).toEqual({ graceMs: DEFAULT_DISCONNECT_GRACE_MS });
    expect(resolveJobEventsOptions({ cancelOnDisconnect: { graceMs: 0 } }).cancelOnDisconnect).toEqual({ graceMs: 0 });
  });

  it.each([
    [{ heartbeatMs: -1 }, /heartbeatMs must be an integer >= 0/],
    [{ heartbeatMs: 1.5 }, /heartbeatMs/],
    [{ retryMs: 0 }, /retryMs must be an integer >= 1/],
    [{ cancelOnDisconnect: { graceMs: -5 } }, /graceMs must be an integer >= 0/],
    [{ cancelOnDisconnect: { graceMs: 2_000 }, retryMs: 2_000 }, /graceMs \(2000\) must be longer than retryMs \(2000\)/],
  ])('refuses %j', (options, message) => {
    expect(() => resolveJobEventsOptions(options)).toThrow(message);
  });
});
