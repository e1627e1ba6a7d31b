// The one place this package's tests import mqtt (CONVENTIONS 2): tests need raw clients to
// play devices and prove broker isolation; everything else goes through link/ or hub/src/mqtt.
export { default, connect, connectAsync } from 'mqtt';
export type { IClientOptions, IClientPublishOptions, MqttClient } from 'mqtt';
