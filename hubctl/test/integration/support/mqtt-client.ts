// The one place this package's tests import mqtt (CONVENTIONS 2): the end-to-end tests play a
// provisioned device on the hub's broker; everything else goes through link/ or hub/src/mqtt.
export { default, connect, connectAsync } from 'mqtt';
export type { IClientOptions, IClientPublishOptions, MqttClient } from 'mqtt';
