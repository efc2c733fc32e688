import type SqliteDatabase from 'better-sqlite3';
import type { DatabaseConnection, Driver, SqliteDialectConfig, TransactionSettings } from 'kysely';
import { CompiledQuery, SqliteDialect } from './kysely.js';

/** Transactions that share one commit, at most. */
export const MAX_GROUP = 16;

/** How long closing waits for the connection's holder. */
const CLOSE_WAIT_MS = 5_000;

interface Group {
  /** Holders of the connection whose work is in the group and who wait for its commit. */
  members: number;
  /** Its commit is scheduled (setImmediate). */
  scheduled: boolean;
  committed: Promise<void>;
  settle(err?: unknown): void;
}

function openGroup(): Group {
  let settle!: (err?: unknown) => void;
  const committed = new Promise<void>((resolve, reject) => {
    settle = (err) => (err === undefined ? resolve() : reject(err));
  });
  // A group whose only holder is its committer has nobody awaiting this promise.
  committed.catch(() => undefined);
  return { members: 0, scheduled: false, committed, settle };
}

/**
 * SQLite's one connection, shared by the requests that wait for it, with one commit for many of
 * their transactions (group commit). A commit is most of a small transaction's cost: it writes
 * every page the transaction changed to the WAL, each with two system calls, and takes and gives
 * back the file locks (`npm run bench -- token-check`).
 *
 * Requests take the connection in turn, as with Kysely's own SQLite driver. The first transaction
 * opens a real one (`BEGIN IMMEDIATE`), the group; it stays open for the holders that come in the
 * same turn of the event loop, each later transaction in a savepoint of its own, so its rollback
 * undoes its own writes only. The commit comes once that turn's holders are done (a setImmediate
 * that waits for the connection like any holder), or at the MAX_GROUP-th holder.
 *
 * Nobody resumes before the commit that holds its work: a holder that ran inside an open group,
 * in a transaction or not, gets its answer only once the group is committed, and fails with the
 * group's error if the commit fails. So a caller never acts on a write, or on a read of another's
 * write, that a crash could still take back. Without a request waiting, a transaction is
 * `BEGIN IMMEDIATE … COMMIT` as before.
 *
 * What follows from it, for code on SQLite:
 * - Inside a transaction's callback, never await a query promise made outside it: that query
 *   resolves with its group's commit, which needs the connection the callback holds.
 * - `startTransaction()` (a controlled transaction, and with it `savepoint()`) and `stream()` are
 *   not for SQLite: the first would resolve `commit()` before the group's commit, the second hands
 *   out rows before it. Twofold uses neither.
 */
export class GroupCommitDriver implements Driver {
  private connection!: DatabaseConnection;
  private locked = false;
  private readonly waiting: (() => void)[] = [];
  private group: Group | undefined;
  /** The transaction in progress is a savepoint inside the group (not the group's opener). */
  private inSavepoint = false;

  constructor(
    private readonly inner: Driver,
    private readonly sqlite: Pick<SqliteDatabase.Database, 'inTransaction'>,
  ) {}

  async init(): Promise<void> {
    await this.inner.init();
    // The inner driver's one connection, held for good: this driver hands it out in turn.
    this.connection = await this.inner.acquireConnection();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.lock();
    this.dropRolledBackGroup();
    return this.connection;
  }

  /**
   * A group that SQLite rolled back on its own (a full disk, say) fails its members; the holder's
   * statements then run on their own, outside it.
   */
  private dropRolledBackGroup(): void {
    if (this.group && !this.sqlite.inTransaction) this.fail(new Error('the group transaction was rolled back'));
  }

  private async lock(): Promise<void> {
    if (this.locked) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.locked = true;
  }

  async beginTransaction(connection: DatabaseConnection, _settings: TransactionSettings): Promise<void> {
    this.dropRolledBackGroup();
    if (this.group) {
      await run(connection, 'savepoint twofold_group');
      this.inSavepoint = true;
    } else {
      await run(connection, 'begin immediate');
      this.group = openGroup();
      this.inSavepoint = false;
    }
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    // The group's commit comes when the connection is released.
    if (this.inSavepoint) await run(connection, 'release twofold_group');
    this.inSavepoint = false;
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.inSavepoint) {
      this.inSavepoint = false;
      try {
        await run(connection, 'rollback to twofold_group');
        await run(connection, 'release twofold_group');
      } catch (err) {
        // Its writes could not be taken back alone: the whole group goes, and fails.
        if (this.sqlite.inTransaction) await run(connection, 'rollback').catch(() => undefined);
        this.fail(err);
        throw err;
      }
      return;
    }
    // The group's opener: nothing else is in the group yet (others join only after it).
    const g = this.group;
    this.group = undefined;
    try {
      if (this.sqlite.inTransaction) await run(connection, 'rollback');
    } finally {
      g?.settle();
    }
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const g = this.group;
    if (!g) return this.unlock();
    g.members++;
    if (g.members >= MAX_GROUP) return this.commit(connection, g);
    // Requests whose input has arrived in this turn of the event loop join the group; the commit
    // comes after them (setImmediate runs once the loop has handed out this turn's I/O), or when
    // the group is full. This holder resumes with it.
    if (!g.scheduled) {
      g.scheduled = true;
      setImmediate(() => void this.commitWhenFree(g));
    }
    this.unlock();
    return g.committed;
  }

  /** The scheduled commit: it waits for the connection like any holder. */
  private async commitWhenFree(g: Group): Promise<void> {
    await this.lock();
    if (this.group !== g) return this.unlock();
    await this.commit(this.connection, g).catch(() => undefined);
  }

  /** Commits the group (the connection held) and releases the connection. */
  private async commit(connection: DatabaseConnection, g: Group): Promise<void> {
    try {
      this.group = undefined;
      if (!this.sqlite.inTransaction) throw new Error('the group transaction was rolled back');
      await run(connection, 'commit');
      g.settle();
    } catch (err) {
      if (this.sqlite.inTransaction) await run(connection, 'rollback').catch(() => undefined);
      g.settle(err);
      throw err;
    } finally {
      this.unlock();
    }
  }

  /**
   * Waits for the holder of the connection (a transaction half done is never committed), commits
   * the open group, closes. A holder that keeps the connection past CLOSE_WAIT_MS does not hold up
   * the shutdown: closing rolls back what is not committed, and the group's members fail.
   */
  async destroy(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const locked = await Promise.race([
      this.lock().then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), CLOSE_WAIT_MS))),
    ]);
    clearTimeout(timer);
    const g = this.group;
    if (g && locked) await this.commit(this.connection, g).catch(() => undefined);
    else this.fail(new Error('the database was closed before the group committed'));
    await this.inner.destroy();
  }

  private fail(err: unknown): void {
    this.group?.settle(err);
    this.group = undefined;
  }

  private unlock(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.locked = false;
  }
}

function run(connection: DatabaseConnection, statement: string): Promise<unknown> {
  return connection.executeQuery(CompiledQuery.raw(statement));
}

/** Kysely's SQLite dialect with its driver wrapped in a GroupCommitDriver. */
export class GroupCommitSqliteDialect extends SqliteDialect {
  constructor(
    config: SqliteDialectConfig,
    private readonly sqlite: Pick<SqliteDatabase.Database, 'inTransaction'>,
  ) {
    super(config);
  }

  override createDriver(): Driver {
    return new GroupCommitDriver(super.createDriver(), this.sqlite);
  }
}
