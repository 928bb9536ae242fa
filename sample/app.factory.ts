import { NestApplicationOptions, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';

export interface SampleAppOptions extends NestApplicationOptions {
  /** The root module; tests pass one that imports AppModule and adds routes of their own. */
  module?: Type<unknown>;
}

/**
 * Creates the sample application without listening, so main.ts and the e2e tests build exactly
 * the same app (the tests call `listen(0)`). Everything else (routes, filter, queue) is in AppModule.
 */
export async function createSampleApp({
  module = AppModule,
  ...options
}: SampleAppOptions = {}): Promise<NestExpressApplication> {
  return NestFactory.create<NestExpressApplication>(module, options);
}
