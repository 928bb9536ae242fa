import { Controller, Get, Header } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** Read once at boot: the page and the package's browser client (no build chain). */
const PAGE = readFileSync(path.join(__dirname, 'index.html'), 'utf8');
const CLIENT = readFileSync(
  path.join(__dirname, '..', '..', 'lib', 'events', 'browser', 'job-events-client.mjs'),
  'utf8',
);

/** The demo page at `/`: start builds, watch them stream over one connection, cancel them. */
@Controller()
export class DemoController {
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return PAGE;
  }

  /** The browser client shipped in the package (`nestjs-job-queue/browser`). */
  @Get('job-events-client.mjs')
  @Header('content-type', 'text/javascript; charset=utf-8')
  client(): string {
    return CLIENT;
  }
}
