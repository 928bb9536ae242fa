import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { JobQueueModuleOptions } from './job-queue.options';

/**
 * forRoot / forRootAsync (useFactory, useClass, useExisting, inject, imports) come from Nest's
 * builder. `isGlobal` (default true) makes JobQueueService injectable app-wide, which the
 * @JobEvents interceptor relies on in every controller's module.
 */
export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<JobQueueModuleOptions>({ moduleName: 'JobQueue' })
    .setClassMethodName('forRoot')
    .setFactoryMethodName('createJobQueueOptions')
    .setExtras<{ isGlobal?: boolean }>({ isGlobal: true }, (definition, extras) => ({
      ...definition,
      global: extras.isGlobal ?? true,
    }))
    .build();
