#!/usr/bin/env node
import { runBootControl } from './cli.js';

// The only place the process exit code is set (CONVENTIONS 14).
const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());
const outcome = await runBootControl(process.argv.slice(2), controller.signal);
process.stdout.write(outcome.stdout);
process.exitCode = outcome.exitCode;
