import { Controller, Module, Param } from '@nestjs/common';
import { JobEvents } from '../../lib';
import { AppModule } from '../../sample/app.module';

/** The cancel-on-disconnect grace of the test routes: short, so the tests need not wait long. */
export const TEST_GRACE_MS = 1_000;
/** Longer than the grace: the first heartbeat of a stream opened after a disconnect comes after that grace expired. */
export const TEST_HEARTBEAT_MS = TEST_GRACE_MS + 500;

/** Stream routes for the multi-process tests: the sample's, with a short grace and heartbeats. */
@Controller('test-builds')
class TestRoutesController {
  @JobEvents(':id/follow', { cancelOnDisconnect: { graceMs: TEST_GRACE_MS }, heartbeatMs: TEST_HEARTBEAT_MS })
  follow(@Param('id') id: string) {
    return id;
  }

  /** No cancelOnDisconnect: a stream here does not keep a job from being cancelled on disconnect. */
  @JobEvents(':id/watch', { heartbeatMs: TEST_HEARTBEAT_MS })
  watch(@Param('id') id: string) {
    return id;
  }
}

@Module({ imports: [AppModule], controllers: [TestRoutesController] })
export class TestRoutesModule {}
