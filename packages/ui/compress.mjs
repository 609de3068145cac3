// Pre-compresses the built console (gzip and brotli next to each file) so the server sends the small copy to browsers
// that take it (sirv picks `.br`/`.gz` by Accept-Encoding) without compressing on every request.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

const dist = new URL('./dist/', import.meta.url).pathname;
const compressible = /\.(js|css|html|svg|json|txt)$/;

async function* files(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (compressible.test(entry.name)) yield path;
  }
}

for await (const path of files(dist)) {
  const data = await readFile(path);
  await writeFile(`${path}.gz`, await promisify(gzip)(data, { level: 9 }));
  await writeFile(
    `${path}.br`,
    await promisify(brotliCompress)(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
  );
}
