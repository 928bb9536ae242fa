// Set-up 3: core peers plus @nestjs/terminus; the health indicator from the ./health entry point.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { JobQueueModule } from 'nestjs-job-queue';
import { JobQueueHealthIndicator, JobQueueHealthModule } from 'nestjs-job-queue/health';
import { EchoProcessor, report, runOneJob } from './echo.processor';

@Module({ imports: [JobQueueModule.forRoot(), TerminusModule, JobQueueHealthModule], providers: [EchoProcessor] })
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const result = await runOneJob(app);
  const indicator = app.get(JobQueueHealthIndicator);
  const health = await app.get(HealthCheckService).check([() => indicator.isHealthy('queue')]);
  await app.close();
  report({ result, health: health.status, queue: health.details.queue.status });
}

void main();
