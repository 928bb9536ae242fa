import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { JobQueueModuleOptions, JobQueueOptionsFactory } from './job-queue.options';

/** The method Nest calls on a `forRootAsync({ useClass | useExisting })` factory. */
const OPTIONS_FACTORY_METHOD = 'createJobQueueOptions' satisfies keyof JobQueueOptionsFactory;

/**
 * forRoot / forRootAsync (useFactory, useClass, useExisting, inject, imports) come from Nest's
 * builder. `isGlobal` (default true) makes JobQueueService injectable app-wide, which the
 * @JobEvents interceptor relies on in every controller's module.
 */
export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } = new ConfigurableModuleBuilder<JobQueueModuleOptions>({
  moduleName: 'JobQueue',
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName(OPTIONS_FACTORY_METHOD)
  .setExtras<{ isGlobal?: boolean }>({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal ?? true,
  }))
  .build();
