import { Global, Module } from '@nestjs/common';
import { BROKER_DEVICE_URL } from './devices/broker-authority.js';
import { BrokerConnection } from './mqtt/broker-connection.js';

/** Hands the broker's device-facing URL (known once it listens) to provisioning. */
@Global()
@Module({
  providers: [
    {
      provide: BROKER_DEVICE_URL,
      useFactory: (c: BrokerConnection) => c.deviceUrl,
      inject: [BrokerConnection],
    },
  ],
  exports: [BROKER_DEVICE_URL],
})
export class BrokerDeviceUrlModule {}
