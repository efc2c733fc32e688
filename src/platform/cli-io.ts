/** Where commands write; tests pass their own. */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
}

/** A command used wrongly: `twofold` prints the message and exits 2. */
export class CliUsageError extends Error {}
