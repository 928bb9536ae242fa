import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';

/** The sample's dashboard token: DASHBOARD_TOKEN, or 'demo' when unset. */
export const dashboardToken = (env: NodeJS.ProcessEnv = process.env): string => env.DASHBOARD_TOKEN || 'demo';

/** The parts of the request the guard reads. */
interface TokenRequest {
  query: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * A DEMO guard, not a way to protect a real dashboard: it lets a request in when it carries the
 * token in `?token=` (the page passes its own query on to every call it makes) or in the
 * `x-dashboard-token` header. A real app puts its own authentication here (a session cookie, SSO,
 * an admin role), e.g. the guard its other admin routes use.
 */
@Injectable()
export class DashboardTokenGuard implements CanActivate {
  private readonly token = Buffer.from(dashboardToken());

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<TokenRequest>();
    const given = request.query.token ?? request.headers['x-dashboard-token'];
    if (typeof given !== 'string') return false;
    const bytes = Buffer.from(given);
    return bytes.length === this.token.length && timingSafeEqual(bytes, this.token);
  }
}
