// TODO(#8): import from '@fleet/device-agent/boot' once device-agent/package.json exports
// "./boot" (asked of the lead); the relative path is the one place that knows the layout.
export * from '../../device-agent/src/boot/index.js';
