import { Module } from '@nestjs/common';
import { PrometheusController } from './prometheus.controller';

/** Prometheus text format at `GET /metrics/prometheus`. */
@Module({ controllers: [PrometheusController] })
export class MetricsModule {}
