import { runSoak } from './soak-driver';

// The soak's short form, part of every `npm test`: 60 s of jobs under faults, then the checks.
// The long form is `npm run soak -- --long` (see README, Tests).
jest.setTimeout(180_000);

it('soak: 3 workers under SIGKILL, SIGSTOP, CLIENT PAUSE, CLIENT KILL and a Redis restart keep every invariant', async () => {
  const result = await runSoak({ seconds: 60, jobsPerSecond: 20 });
  process.stdout.write(`${result.summary}\n`);
  expect(result.faults.restart).toBe(1);
  expect(
    result.faults.kill + result.faults.stop + result.faults.pause + result.faults.clientkill,
  ).toBeGreaterThanOrEqual(8);
  expect(result.violations).toEqual([]);
});
