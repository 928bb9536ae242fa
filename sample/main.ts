import { Logger } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { createSampleApp } from './app.factory';

async function bootstrap(): Promise<void> {
  const logger = new Logger('Sample');
  const app = await createSampleApp();
  // SIGTERM / SIGINT: stop claiming, let running builds finish (drainTimeoutMs), hand the rest back.
  app.enableShutdownHooks();
  await app.listen(process.env.PORT ?? 3000);
  const { port } = app.getHttpServer().address() as AddressInfo;
  const redisUrl = process.env.REDIS_URL;
  logger.log(`Listening on http://localhost:${port}`);
  logger.log(
    redisUrl
      ? `Job queue on Redis at ${redact(redisUrl)}`
      : 'Job queue in memory (set REDIS_URL to share it between processes)',
  );
  // The token itself is logged only when it is the public default.
  const token = process.env.DASHBOARD_TOKEN ? '<DASHBOARD_TOKEN>' : 'demo';
  logger.log(`Dashboard: http://localhost:${port}/dashboard?token=${token} (a demo guard: see sample/dashboard)`);
  logger.log(`Try: curl -s -X POST localhost:${port}/builds -H 'content-type: application/json' -d '{}'`);
}

/** Hides the password of a redis://user:pass@host URL in the log. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable REDIS_URL)';
  }
}

bootstrap().catch((err: unknown) => {
  new Logger('Sample').error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
