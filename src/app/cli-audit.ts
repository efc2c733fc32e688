import type { CliIo } from '../cli.js';
import type { Config } from '../platform/config.js';

export async function runAuditCommand(_args: string[], io: CliIo, _c: Config): Promise<number> {
  io.err('audit: not implemented yet');
  return 1;
}
