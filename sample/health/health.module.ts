import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { JobQueueHealthModule } from '../../lib/health';
import { HealthController } from './health.controller';

@Module({ imports: [TerminusModule, JobQueueHealthModule], controllers: [HealthController] })
export class HealthModule {}
