/**
 * `npm run soak`: the soak's short form (75 s of faults); `npm run soak -- --long`: the long form
 * (10 minutes); `--seconds=N` any other length. Prints progress, every violation, then the one
 * summary line; exits 1 on violations.
 */
import { runSoak } from './soak-driver';

const long = process.argv.includes('--long');
const given = process.argv.find((arg) => arg.startsWith('--seconds='));
const seconds = given ? Number(given.slice('--seconds='.length)) : long ? 600 : 75;
runSoak({ seconds, jobsPerSecond: 20, log: (line) => console.log(line) }).then(
  (result) => {
    for (const violation of result.violations) console.log(`violation: ${violation}`);
    console.log(result.summary);
    process.exit(result.violations.length > 0 ? 1 : 0);
  },
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
