/**
 * Whether an optional peer dependency can be loaded from this package: a resolve check only, so
 * the peer itself is not loaded (and costs nothing) when the feature that needs it stays off.
 */
export function isPeerInstalled(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}
