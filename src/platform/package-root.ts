import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

let root: string | undefined;

/**
 * The directory holding Twofold's package.json. Files that ship beside the code (the built front
 * ends in web/dist, the data under src/) are found from here, because the code itself runs from
 * two places: the sources (src/…, under tsx) and the bundle (dist/, one directory of chunks).
 */
export function packageRoot(): string {
  if (root !== undefined) return root;
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return (root = dir);
    if (dirname(dir) === dir) throw new Error(`no package.json above ${import.meta.dirname}`);
  }
}
