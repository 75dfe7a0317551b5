// tsc compiles only TypeScript; the Lua scripts the ledger loads at run time ship beside it.
import { cpSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const assetDirs = ['ledger/scripts'];
for (const dir of assetDirs) {
  for (const file of readdirSync(dir)) {
    cpSync(join(dir, file), join('dist', dir, file));
  }
}
