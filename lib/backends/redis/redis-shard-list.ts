import { InvalidJobError } from '../../errors/job-queue.errors';
import { Messages } from '../../errors/job-queue.messages';
import type { ListPage, ListPosition, ListQuery } from '../queue-backend.interface';
import type { RedisBackend } from './redis.backend';

/**
 * `list()` of a sharded queue: shard after shard, each in the state's order (see QueueBackend.list).
 * A position is the shard's own, with the shard in front of its member (`<shard>:<member>`); an empty
 * member after the shard stands for the start of that shard. A page may run on into the next shard;
 * a page that fills up exactly where a shard ends looks ahead, so `next` is absent on the last page.
 */
export async function listAcrossShards(parts: readonly RedisBackend[], query: ListQuery): Promise<ListPage> {
  let { shard, after } = query.after ? decode(query.after, parts.length) : { shard: 0, after: undefined };
  const jobs: ListPage['jobs'] = [];
  for (; shard < parts.length; shard++, after = undefined) {
    const page = await parts[shard].list({ ...query, limit: query.limit - jobs.length, after });
    jobs.push(...page.jobs);
    // More on this shard (or a bounded scan by name stopped early): the page ends here.
    if (page.next) return { jobs, next: encode(shard, page.next) };
    if (jobs.length < query.limit) continue;
    for (let later = shard + 1; later < parts.length; later++) {
      if ((await parts[later].list({ ...query, limit: 1, after: undefined })).jobs.length > 0) {
        return { jobs, next: { score: '0', member: `${later}:` } };
      }
    }
    return { jobs };
  }
  return { jobs };
}

function encode(shard: number, position: ListPosition): ListPosition {
  return { score: position.score, member: `${shard}:${position.member}` };
}

/** @throws InvalidJobError for a position of another layout (an unsharded queue's, or another shard count's) */
function decode(position: ListPosition, count: number): { shard: number; after?: ListPosition } {
  const match = /^(\d{1,3}):(.*)$/.exec(position.member);
  const shard = match ? Number(match[1]) : NaN;
  if (!match || shard >= count)
    throw new InvalidJobError(Messages.invalidCursor(`${position.score}/${position.member}`));
  return { shard, after: match[2] === '' ? undefined : { score: position.score, member: match[2] } };
}
