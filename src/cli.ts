import { parseArgs } from 'node:util';
import { CliUsageError, type CliIo } from './platform/cli-io.js';
import { ConfigError, loadConfig, type Config } from './platform/config.js';

export { CliUsageError, type CliIo };
import { createLogger } from './platform/logger.js';
import { openDatabase, type Db } from './platform/db.js';
import { migrateToLatest } from './platform/migrations/index.js';
import { migrations } from './migrations.js';

const defaultIo: CliIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  env: process.env,
};

const USAGE = `Usage: twofold <command>

  serve [--only verify|app]       run the system (default: everything in one process)
  migrate                         apply database migrations and exit
  apps create --name N [--callback-url U]
                                  register an application; prints its API key once
  apps list                       list applications (never their keys)
  apps unlock --user AUTHY_ID     clear a user's second-factor lockout
  authenticator <subcommand>      the CLI authenticator (activate, code, pending, approve, deny, watch)
  audit --user EMAIL [--limit N]  print a user's authentication events
`;

export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(rest, io);
      case 'migrate':
        return await migrate(io);
      case 'apps': {
        const { runAppsCommand } = await import('./verify/cli-apps.js');
        const c = config(io);
        return await runAppsCommand(rest, io, c, () => openMigrated(c));
      }
      case 'authenticator': {
        const { runAuthenticatorCommand } = await import('./authenticator/cli.js');
        return await runAuthenticatorCommand(rest, io);
      }
      case 'audit': {
        const { runAuditCommand } = await import('./app/cli-audit.js');
        const c = config(io);
        return await runAuditCommand(rest, io, c, () => openMigrated(c));
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? 1 : 0;
      default:
        io.err(`Unknown command: ${command}\n\n${USAGE}`);
        return 1;
    }
  } catch (e) {
    if (e instanceof ConfigError || e instanceof CliUsageError) {
      io.err(e.message);
      return 2;
    }
    throw e;
  }
}


function config(io: CliIo): Config {
  return loadConfig(io.env);
}

/** The configured database with every migration applied; the caller closes it. */
async function openMigrated(c: Config): Promise<Db> {
  const db = openDatabase({ databaseUrl: c.DATABASE_URL, sqliteFile: c.sqliteFile });
  try {
    await migrateToLatest(db, migrations);
    return db;
  } catch (e) {
    await db.close();
    throw e;
  }
}

async function migrate(io: CliIo): Promise<number> {
  const c = config(io);
  const db = openDatabase({ databaseUrl: c.DATABASE_URL, sqliteFile: c.sqliteFile });
  try {
    const applied = await migrateToLatest(db, migrations);
    io.out(applied.length ? `Applied: ${applied.join(', ')}` : 'Database is up to date.');
    return 0;
  } finally {
    await db.close();
  }
}

async function serve(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { only: { type: 'string' } }, strict: true });
  const only = values.only ?? 'all';
  if (only !== 'all' && only !== 'verify' && only !== 'app') throw new CliUsageError('--only must be verify or app');
  const c = loadConfig(io.env, { role: only });
  const logger = createLogger(c.LOG_LEVEL);
  const { createSystem } = await import('./system.js');
  const system = await createSystem({ config: c, logger, only });
  const url = await system.listen();
  logger.info({ url, only, database: system.platform.db.kind, sms: c.SMS_TRANSPORT, listening: system.addresses() }, `Twofold listening on ${c.PUBLIC_URL}`);
  if (c.HOST === undefined && c.listenHosts.every((h) => h === '127.0.0.1' || h === '::1')) {
    logger.info('listening on loopback only: the SMS outbox at /dev/sms shows every code sent; set HOST (e.g. HOST=0.0.0.0) to listen elsewhere');
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  logger.info('shutting down');
  await system.stop();
  return 0;
}
