#!/usr/bin/env -S node --initial-heap-size=128 --max-semi-space-size=16 --heap-growing-percent=30
// `streamhouse serve [flags]`: the broker process.
// `streamhouse groups|topics ...`: admin commands against a running cluster
// (src/client/commands.ts).

import { ConfigError, helpText, parseArgs } from './config.js';
import { createLogger } from './log.js';
import { GROUPS_USAGE, TOPICS_USAGE, runAdminCommand } from './client/commands.js';

async function serve(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${helpText()}\n`);
    return;
  }
  const config = parseArgs(argv);
  const log = createLogger(config.logLevel);
  log.info({ config }, 'starting');
  // Loaded here so the admin subcommands start fast (the broker pulls in the S3 SDK).
  const { Broker } = await import('./broker/broker.js');
  const broker = new Broker(config, log);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'signal received');
    const timer = setTimeout(() => {
      log.error({ timeoutMs: config.shutdownTimeoutMs }, 'graceful shutdown timed out');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    timer.unref();
    broker.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    process.exit(70);
  });
  process.on('unhandledRejection', (err) => {
    log.error({ err }, 'unhandled rejection');
  });
  try {
    await broker.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'start-up failed');
    process.stderr.write(`streamhouse: start-up failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'groups':
    case 'topics':
      process.exitCode = await runAdminCommand(command, rest);
      return;
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`streamhouse serve [options]   run a broker\n${GROUPS_USAGE}\n${TOPICS_USAGE}\n\n${helpText()}\n`);
      return;
    default:
      process.stderr.write(`unknown command ${command}; try: streamhouse help\n`);
      process.exit(2);
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`streamhouse: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`streamhouse: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
