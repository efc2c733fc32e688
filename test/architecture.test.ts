import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The structure rules of docs/architecture.md, checked on the source itself: who may import whom,
 * no import cycles, and files and functions short enough to read.
 */
const ROOT = resolve(import.meta.dirname, '..');
const MAX_FILE_LINES = 350;
const MAX_FUNCTION_LINES = 80;

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
    .filter((f) => !f.startsWith('web/dist/') && !f.includes('node_modules'))
    .sort();
}

const files = [...sources('src'), ...sources('web')];
const parsed = new Map(files.map((f) => [f, ts.createSourceFile(f, readFileSync(join(ROOT, f), 'utf8'), ts.ScriptTarget.Latest, true)]));

/** The project files a file imports (static, re-exports, dynamic `import()`, type-only included). */
function importsOf(file: string): string[] {
  const sf = parsed.get(file)!;
  const specs: string[] = [];
  const visit = (n: ts.Node) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) specs.push(n.moduleSpecifier.text);
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) specs.push(n.arguments[0].text);
    if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) specs.push(n.argument.literal.text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return specs
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)).replace(/\.js$/, '.ts'))
    .filter((f) => parsed.has(f));
}

const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** The part a file belongs to, for the import rules. */
function partOf(file: string): string {
  if (file.startsWith('src/verify/onetouch/')) return 'verify/onetouch';
  if (file.startsWith('src/verify/core/')) return 'verify/core';
  const m = /^(src|web)\/([^/]+)\//.exec(file);
  return m ? `${m[1]}/${m[2]}` : 'root';
}

/** Which parts each part may import (besides itself). `root` (src/system.ts, src/cli.ts, src/migrations.ts) composes them all. */
const ALLOWED: Record<string, string[]> = {
  'src/platform': [],
  'src/protocol': [],
  'src/app': ['src/platform', 'src/protocol'],
  'src/verify': ['src/platform', 'src/protocol', 'verify/core', 'verify/onetouch'],
  'verify/core': ['src/platform', 'src/protocol', 'src/verify'],
  'verify/onetouch': ['src/platform', 'src/protocol', 'src/verify'],
  'src/authenticator': ['src/platform', 'src/protocol'],
  'web/app': ['web/shared', 'src/protocol'],
  'web/authenticator': ['web/shared', 'src/protocol'],
  'web/shared': ['src/protocol'],
};

/** Single files a part may import from outside its allowed parts: the web app's error codes are one registry for its server and its front end. */
const SHARED_FILES: Record<string, string[]> = {
  'web/app': ['src/app/error-codes.ts'],
};

describe('architecture', () => {
  it('when any part imports another then the import is one the layering allows (platform imports no context, the contexts not each other)', () => {
    const wrong: string[] = [];
    for (const [file, deps] of graph) {
      const from = partOf(file);
      if (from === 'root') continue;
      const allowed = ALLOWED[from];
      for (const dep of deps) {
        const to = partOf(dep);
        if (to === from) continue;
        if (!allowed?.includes(to) && !SHARED_FILES[from]?.includes(dep)) wrong.push(`${file} -> ${dep}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('when OneTouch needs the core then it goes through ports.ts only, never a core module', () => {
    const wrong = [...graph].flatMap(([file, deps]) => (partOf(file) === 'verify/onetouch' ? deps.filter((d) => partOf(d) === 'verify/core').map((d) => `${file} -> ${d}`) : []));
    expect(wrong).toEqual([]);
  });

  it('when the imports of src/ and web/ are followed then no module reaches itself again (no import cycle)', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const walk = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const d of graph.get(f) ?? []) {
        if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d].join(' -> '));
        else if (!state.has(d)) walk(d);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) walk(f);
    expect(cycles).toEqual([]);
  });

  it('when src/ imports a package a start does not need then no module imports its values statically: it loads on first use (kysely: through its one facade)', () => {
    // These stay out of the bundle (scripts/build-server.js), so a static import would load them
    // from node_modules at every start. pg: only with a PostgreSQL DATABASE_URL (platform/db.ts
    // requires it). The rest load on first use: libphonenumber-js through platform/phone-numbers.ts,
    // argon2 in app/passwords.ts, SMS, Web Push, QR codes and Redis with `await import()` where
    // they are used. kysely is bundled, but its values come from platform/kysely.ts only.
    const LAZY = ['pg', 'kysely', 'libphonenumber-js', 'libphonenumber-js/max', '@node-rs/argon2', 'twilio', 'web-push', 'qrcode', 'ioredis', '@simplewebauthn/server'];
    const FACADES: Record<string, string> = { kysely: 'src/platform/kysely.ts' };
    const wrong: string[] = [];
    for (const [file, sf] of parsed) {
      if (!file.startsWith('src/')) continue;
      for (const st of sf.statements) {
        if (!(ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) || !st.moduleSpecifier || !ts.isStringLiteral(st.moduleSpecifier)) continue;
        if (!LAZY.includes(st.moduleSpecifier.text) || !importsValues(st) || FACADES[st.moduleSpecifier.text] === file) continue;
        wrong.push(`${file}: ${st.getText(sf)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it(`when a source file is read then it has at most ${MAX_FILE_LINES} lines`, () => {
    const long = files.flatMap((f) => {
      const n = parsed.get(f)!.getLineAndCharacterOfPosition(parsed.get(f)!.getEnd()).line + 1;
      return n > MAX_FILE_LINES ? [`${f}: ${n}`] : [];
    });
    expect(long).toEqual([]);
  });

  it(`when a function is read then it has at most ${MAX_FUNCTION_LINES} lines of its own code (functions nested in it count apart, comments and blank lines do not count)`, () => {
    const long: string[] = [];
    for (const [file, sf] of parsed) {
      for (const fn of functionsIn(sf)) {
        const n = ownCodeLines(sf, fn);
        if (n > MAX_FUNCTION_LINES) long.push(`${file}:${sf.getLineAndCharacterOfPosition(fn.getStart()).line + 1} ${n}`);
      }
    }
    expect(long).toEqual([]);
  });

  it('when the line counter reads a known function then it counts its own code lines only (the check can fail)', () => {
    const sf = ts.createSourceFile(
      'x.ts',
      ['function outer() {', '  // a comment', '  const a = 1;', '', '  const inner = () => {', '    return a;', '  };', '  return inner();', '}'].join('\n'),
      ts.ScriptTarget.Latest,
      true,
    );
    const [outer, inner] = functionsIn(sf);
    expect(ownCodeLines(sf, outer!)).toBe(5);
    expect(ownCodeLines(sf, inner!)).toBe(3);
  });
});

/** Whether an import or re-export loads the module at run time (type-only ones are erased). */
function importsValues(st: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(st)) return !st.isTypeOnly && !(st.exportClause && ts.isNamedExports(st.exportClause) && st.exportClause.elements.every((e) => e.isTypeOnly));
  const clause = st.importClause;
  if (!clause) return true;
  if (clause.isTypeOnly) return false;
  if (clause.name) return true;
  const b = clause.namedBindings;
  return !b || ts.isNamespaceImport(b) || b.elements.some((e) => !e.isTypeOnly);
}

function isFunction(n: ts.Node): n is ts.FunctionLikeDeclaration {
  return ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isConstructorDeclaration(n) || ts.isGetAccessor(n) || ts.isSetAccessor(n);
}

function functionsIn(sf: ts.SourceFile): ts.FunctionLikeDeclaration[] {
  const out: ts.FunctionLikeDeclaration[] = [];
  const visit = (n: ts.Node) => {
    if (isFunction(n) && n.body) out.push(n);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** Lines on which a token of `fn` starts, less those of the functions nested in it. */
function ownCodeLines(sf: ts.SourceFile, fn: ts.FunctionLikeDeclaration): number {
  const lines = new Set<number>();
  const nested: [number, number][] = [];
  const collectNested = (n: ts.Node) => {
    if (n !== fn && isFunction(n)) {
      nested.push([sf.getLineAndCharacterOfPosition(n.getStart()).line, sf.getLineAndCharacterOfPosition(n.getEnd()).line]);
      return;
    }
    ts.forEachChild(n, collectNested);
  };
  collectNested(fn);
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, sf.languageVariant, sf.text, undefined, fn.getStart(), fn.getEnd() - fn.getStart());
  for (let t = scanner.scan(); t !== ts.SyntaxKind.EndOfFileToken; t = scanner.scan()) {
    const line = sf.getLineAndCharacterOfPosition(scanner.getTokenStart()).line;
    // A nested function's first line is shared with its caller (`const f = () => {`); the rest is its own.
    if (!nested.some(([a, b]) => line > a && line <= b)) lines.add(line);
  }
  return lines.size;
}
