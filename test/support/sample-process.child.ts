import type { AddressInfo } from 'node:net';
import { createSampleApp } from '../../sample/app.factory';
import { TestRoutesModule } from './test-routes.module';

/**
 * The sample app in a child process, as `sample/main.ts` runs it (shutdown hooks on), but on a
 * loopback port the OS picks; reports `{ port }` over IPC once it listens. REDIS_URL/JQ_PREFIX
 * select the backend as for the sample. With the argument 'test-routes', the app has the routes of
 * TestRoutesModule too.
 */
async function main(): Promise<void> {
  const module = process.argv[2] === 'test-routes' ? TestRoutesModule : undefined;
  const app = await createSampleApp({ module, logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  process.send!({ port: (app.getHttpServer().address() as AddressInfo).port });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
