// Set-up 2: core peers plus ioredis; the queue on a Redis server, given as the user's own instance.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import Redis from 'ioredis';
import { JobQueueModule, JobQueueService } from 'nestjs-job-queue';
import { EchoProcessor, report, runOneJob } from './echo.processor';

async function main(): Promise<void> {
  const mine = new Redis(process.env.REDIS_URL!);
  @Module({
    imports: [JobQueueModule.forRoot({ redis: mine, prefix: process.env.JQ_PREFIX })],
    providers: [EchoProcessor],
  })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const result = await runOneJob(app);
  const backend = (await app.get(JobQueueService).metrics()).backend;
  await app.close();
  // The queue duplicated the instance and closed only its own connections.
  const mineStillOpen = (await mine.ping()) === 'PONG';
  await mine.quit();
  report({ result, backend, mineStillOpen });
}

void main();
