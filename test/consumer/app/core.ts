// Set-up 1: only the core peers are installed (no ioredis, no @nestjs/terminus).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JobQueueConfigError, JobQueueModule, JobQueueModuleOptions } from 'nestjs-job-queue';
import { EchoProcessor, report, runOneJob } from './echo.processor';

function appModule(options: JobQueueModuleOptions) {
  @Module({ imports: [JobQueueModule.forRoot(options)], providers: [EchoProcessor] })
  class AppModule {}
  return AppModule;
}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(appModule({}), { logger: false });
  const result = await runOneJob(app);
  await app.close();

  // Option 'redis' without ioredis installed: a typed error that says what to install.
  let redisError: unknown;
  await NestFactory.createApplicationContext(appModule({ redis: 'redis://127.0.0.1:1' }), {
    logger: false,
    abortOnError: false,
  })
    .then((unexpected) => unexpected.close())
    .catch((err: unknown) => (redisError = err));
  report({
    result,
    redisError: redisError instanceof JobQueueConfigError ? redisError.message : String(redisError),
  });
}

void main();
