import { Module } from '@nestjs/common';
import { BuildProcessor } from './build.processor';
import { BuildsController } from './builds.controller';

/** JobQueueService comes from the global JobQueueModule imported once in AppModule. */
@Module({ providers: [BuildProcessor], controllers: [BuildsController] })
export class BuildsModule {}
