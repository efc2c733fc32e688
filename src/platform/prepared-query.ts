import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';

/** A named placeholder in a query built once: bound to a value at each run. */
export class Slot {
  constructor(readonly name: string) {}
}

type Bindings = Record<string, unknown>;

/**
 * A query built and compiled by Kysely once, then run many times with other values: the hot
 * paths' statements (a token check runs seven) spent a fifth of their CPU building and compiling
 * the same SQL again at every request.
 *
 * `build` receives `slot(name)` to put where a value goes; Kysely keeps such a value as a bound
 * parameter, so the SQL text is final and each run only swaps the parameters. A slot is never
 * spliced into the text, so values stay parameters as in any Kysely query. The compiled form is
 * kept per database handle (SQLite and PostgreSQL compile differently) and shared by its
 * transactions, which compile as their database does.
 *
 * Only for queries whose shape does not depend on the values: no `in` lists of varying length,
 * no optional clauses. Those stay ordinary Kysely queries.
 */
export function prepared<DB, R, B extends Bindings>(build: (db: Kysely<DB>, slot: (name: keyof B & string) => never) => Compilable<R>): (q: Kysely<DB>, values: B) => Promise<QueryResult<R>> {
  const compiled = new WeakMap<object, CompiledQuery<R>>();
  const slot = (name: string) => new Slot(name) as never;
  return (q, values) => {
    const key = dialectKey(q);
    let c = compiled.get(key);
    if (!c) {
      c = build(q, slot).compile();
      compiled.set(key, c);
    }
    const parameters = c.parameters.map((p) => (p instanceof Slot ? bind(values, p.name) : p));
    return q.executeQuery<R>({ ...c, parameters });
  };
}

/** The first row, or undefined. */
export async function firstRow<R>(r: Promise<QueryResult<R>>): Promise<R | undefined> {
  return (await r).rows[0];
}

/** The number of rows an UPDATE or DELETE changed. */
export async function changedRows(r: Promise<QueryResult<unknown>>): Promise<number> {
  return Number((await r).numAffectedRows ?? 0n);
}

function bind(values: Bindings, name: string): unknown {
  if (!Object.hasOwn(values, name)) throw new Error(`prepared query: no value for ${name}`);
  return values[name];
}

/**
 * What decides a compiled form: the dialect's adapter, one object per database handle, shared by
 * the handle's transactions (Kysely hands them the same executor's adapter).
 */
function dialectKey<DB>(q: Kysely<DB>): object {
  return q.getExecutor().adapter;
}
