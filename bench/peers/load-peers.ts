import { BeeQueueModule, beeQueuePeer } from './bee-queue.peer';
import { BullMQModule, bullmqPeer } from './bullmq.peer';
import { oursPeer } from './ours.peer';
import { Peer, PeerId, RedisAddress } from './peer';

/** The peers' pinned versions live in bench/package.json (installed by `npm run bench:install`). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const PINNED = (require('../package.json') as { dependencies: Record<string, string> }).dependencies;
export const INSTALL_HINT =
  "npm run bench:install   (installs bench/package.json: BullMQ and bee-queue, not part of the project's npm ci)";

export interface LoadedPeers {
  peers: Peer[];
  /** Why a wanted peer is not in `peers` (not installed, other version than pinned). */
  notes: string[];
}

/** This library, plus BullMQ and bee-queue when they resolve from bench/ (bench/node_modules first). */
export function loadPeers(redis: RedisAddress, wanted: ReadonlySet<PeerId>): LoadedPeers {
  const peers: Peer[] = [];
  const notes: string[] = [];
  if (wanted.has('ours')) peers.push(oursPeer(redis));
  if (wanted.has('bullmq')) {
    const found = load<BullMQModule>('bullmq', notes);
    if (found) peers.push(bullmqPeer(found.lib, found.version, redis));
  }
  if (wanted.has('bee')) {
    const found = load<BeeQueueModule>('bee-queue', notes);
    if (found) peers.push(beeQueuePeer(found.lib, found.version, redis));
  }
  return { peers, notes };
}

function load<T>(name: string, notes: string[]): { lib: T; version: string } | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const lib = require(name) as T;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { version } = require(`${name}/package.json`) as { version: string };
    if (version !== PINNED[name])
      notes.push(`${name} ${version} found, but the comparison is pinned to ${PINNED[name]}: ${INSTALL_HINT}`);
    return { lib, version };
  } catch {
    notes.push(`${name} is not installed, so it is left out of the comparison: ${INSTALL_HINT}`);
    return undefined;
  }
}
