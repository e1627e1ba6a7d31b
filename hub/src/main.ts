import { createApp } from './app.js';
import { configFromEnv } from './config/hub-config.js';

const config = configFromEnv(process.env);
const app = await createApp(config);
await app.listen(config.port, config.host);
console.log(`hub listening on ${config.host}:${config.port}`);
