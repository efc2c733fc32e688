import type { CliIo } from '../cli.js';

export async function runAuthenticatorCommand(_args: string[], io: CliIo): Promise<number> {
  io.err('authenticator: not implemented yet');
  return 1;
}
