import { Controller, Get, Header } from '@nestjs/common';
import { register } from 'prom-client';

/**
 * The Prometheus scrape target: every metric of prom-client's default registry, where the job
 * queue registers its own (README "Metrics"). `GET /metrics` stays the JSON snapshot.
 * (An app using @willsoto/nestjs-prometheus gets the same from its own `/metrics` route.)
 */
@Controller('metrics')
export class PrometheusController {
  @Get('prometheus')
  @Header('Content-Type', register.contentType)
  scrape(): Promise<string> {
    return register.metrics();
  }
}
