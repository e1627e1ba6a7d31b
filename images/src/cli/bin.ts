#!/usr/bin/env node
import { runFleetImage } from './main.js';

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());
const outcome = await runFleetImage(process.argv.slice(2), controller.signal);
process.stdout.write(outcome.stdout);
process.stderr.write(outcome.stderr);
process.exitCode = outcome.exitCode;
