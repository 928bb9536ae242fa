import { stopSharedClusterServers } from './redis-cluster-servers';

/** Jest global teardown: stops the run's shared Redis Cluster, if a suite started it. */
export default function globalTeardown(): void {
  stopSharedClusterServers();
}
