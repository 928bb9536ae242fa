import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JobQueueModule, JobHandler, JobQueueService } from './lib';

@Injectable()
class H {
  @JobHandler('x', { concurrency: 4 })
  async run() { return 1; }
}
@Module({ imports: [JobQueueModule.forRoot({})], providers: [H] })
class M {}
(async () => {
  const app = await NestFactory.createApplicationContext(M, { logger: false });
  await app.init();
  const q = app.get(JobQueueService);
  console.log('booted');
  const job = await q.add('x', {});
  console.log('added');
  const done = await q.waitFor(job.id);
  console.log('done', done.state);
  await app.close();
})();
