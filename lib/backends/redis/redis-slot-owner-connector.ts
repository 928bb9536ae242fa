import { AbstractConnector, type RedisOptions } from 'ioredis';
import { createConnection } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** A Redis server's address. */
export interface NodeAddress {
  readonly host: string;
  readonly port: number;
}

/** ioredis' `Connector` option: built by the client with its options. */
export type ConnectorClass = new (options: unknown) => AbstractConnector;

/**
 * An ioredis connector that asks `resolve` where to connect on EVERY (re)connect, instead of
 * keeping the address it was built with: the plain connections that must reach the master owning
 * the queue's slot follow that slot through a failover or a reshard without being rebuilt (their
 * listeners, pending commands and CLIENT ID tracking stay). A server that answers the ready check
 * as a replica (the old master back after a failover) is refused: ioredis disconnects and retries.
 *
 * `onTarget` hears the address of each connection attempt (for health: is it still the owner?).
 */
export function slotOwnerConnector(
  resolve: () => Promise<NodeAddress>,
  onTarget: (address: NodeAddress) => void,
): ConnectorClass {
  return class SlotOwnerConnector extends AbstractConnector {
    private readonly options: RedisOptions;

    constructor(options: unknown) {
      const redisOptions = options as RedisOptions;
      super(redisOptions.disconnectTimeout ?? 2_000);
      this.options = redisOptions;
    }

    async connect(): Promise<typeof this.stream> {
      this.connecting = true;
      const target = await resolve();
      // disconnect() while resolving: same message as ioredis' own connector, so it treats it alike.
      if (!this.connecting) throw new Error('Connection is closed.');
      onTarget(target);
      const { tls } = this.options;
      const stream = tls
        ? tlsConnect({ ...tls, host: target.host, port: target.port })
        : createConnection({ host: target.host, port: target.port });
      stream.once('error', (err) => {
        this.firstError = err;
      });
      this.stream = stream;
      return stream;
    }

    /** Ready check (INFO): only a master serves our keys' writes and blocking pops. */
    override check(info: { role?: string }): boolean {
      return info.role === undefined || info.role === 'master';
    }
  };
}
