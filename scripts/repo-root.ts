/** The checkout: the nearest folder above this file with a package.json, from src or dist. */
import fs = require('fs');
import path = require('path');

export function findRepoRoot(dir: string = __dirname): string {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json'))) return d;
  }
  throw new Error(`no package.json above ${dir}`);
}

export const REPO_ROOT = findRepoRoot();
