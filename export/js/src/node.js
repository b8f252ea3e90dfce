// Node's file access for loadExport: reads the files of an export directory with fs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ExportError } from './index.js';

/** The files of the export directory `dir` (a missing file is an ExportError). */
export function nodeFiles(dir) {
  const where = dir.endsWith('/') ? dir : `${dir}/`;
  return {
    where,
    async read(name) {
      try {
        const buffer = await readFile(join(dir, name));
        return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      } catch (e) {
        if (e.code === 'ENOENT') {
          throw new ExportError(`'${where}${name}' is missing from the export; give the ` +
            'directory `tfncsn export` wrote');
        }
        throw new ExportError(`cannot read '${where}${name}' (${e.message})`);
      }
    },
  };
}
