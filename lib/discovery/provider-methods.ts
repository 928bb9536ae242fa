import type { DiscoveryService, MetadataScanner } from '@nestjs/core';

/** A method of a provider instance, as the explorers see it. */
export interface ProviderMethod {
  instance: object;
  methodName: string;
  method: (...args: unknown[]) => unknown;
}

/**
 * Every method of every provider that has a static instance (request-scoped and not-yet-resolved
 * providers have none to call): what an explorer walks to find its decorated methods.
 */
export function* providerMethods(discovery: DiscoveryService, scanner: MetadataScanner): Generator<ProviderMethod> {
  for (const wrapper of discovery.getProviders()) {
    const { instance } = wrapper;
    if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
    const prototype = Object.getPrototypeOf(instance);
    for (const methodName of scanner.getAllMethodNames(prototype)) {
      yield { instance, methodName, method: prototype[methodName] };
    }
  }
}
