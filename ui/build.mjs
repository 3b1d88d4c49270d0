// Builds the web UI into one C++ source that embeds it (the interface is src/ui/assets.hpp):
//
//   node ui/build.mjs --out <path/to/assets.cpp>
//
// 1. Installs the pinned npm packages (npm ci) when ui/node_modules is missing or older than
//    ui/package-lock.json.
// 2. Bundles ui/src/app.js and ui/src/app.css with esbuild; copies index.html and favicon.svg.
// 3. Writes each file as a byte array with its gzip form (zlib level 9, kept only when smaller)
//    and a strong ETag (the first 16 hex digits of its SHA-256), sorted by path.
//
// The output is a function of the inputs alone, and the file is rewritten only when its content
// changes, so the C++ build does not redo work. Prints one line on success.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const UI_DIR = path.dirname(fileURLToPath(import.meta.url));
const SRC_DIR = path.join(UI_DIR, 'src');

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

// Files served as they are, beside the two bundles.
const COPIED = ['index.html', 'favicon.svg'];

function fail(message) {
  console.error(`ui/build.mjs: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const i = argv.indexOf('--out');
  if (i < 0 || !argv[i + 1]) fail('usage: node ui/build.mjs --out <path/to/assets.cpp>');
  return { out: path.resolve(argv[i + 1]) };
}

function mtime(p) {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return -1;
  }
}

function ensureDependencies() {
  const modules = path.join(UI_DIR, 'node_modules');
  const installed = mtime(modules);
  if (installed >= 0 && installed >= mtime(path.join(UI_DIR, 'package-lock.json'))) return;
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: UI_DIR,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (npm.error) fail(`npm ci: ${npm.error.message}`);
  if (npm.status !== 0) fail(`npm ci exited with status ${npm.status}`);
  // npm ci leaves the directory's time as the newest file it wrote, which may be older than the
  // lock file; touching it records that this lock file was installed.
  const now = new Date();
  fs.utimesSync(modules, now, now);
}

async function bundle() {
  const esbuild = await import('esbuild');
  const common = {
    absWorkingDir: UI_DIR,
    bundle: true,
    minify: true,
    target: 'es2020',
    sourcemap: false,
    write: false,
    charset: 'utf8',
    legalComments: 'eof',
    logLevel: 'warning',
  };
  const [js, css] = await Promise.all([
    esbuild.build({ ...common, entryPoints: [path.join(SRC_DIR, 'app.js')], format: 'iife' }),
    esbuild.build({ ...common, entryPoints: [path.join(SRC_DIR, 'app.css')] }),
  ]).catch(() => fail('esbuild failed (its messages are above)'));
  const files = [
    { path: 'app.js', body: Buffer.from(js.outputFiles[0].contents) },
    { path: 'app.css', body: Buffer.from(css.outputFiles[0].contents) },
  ];
  for (const name of COPIED) files.push({ path: name, body: fs.readFileSync(path.join(SRC_DIR, name)) });
  // Everything is bundled: the page must not fetch anything from elsewhere (the CSP forbids it).
  for (const f of files) {
    if (!/\.(html|css)$/.test(f.path)) continue;
    if (/(?:src|href)\s*=\s*["']?(?:https?:)?\/\/|url\(\s*["']?(?:https?:)?\/\/|@import/i.test(f.body)) {
      fail(`${f.path} refers to an external URL`);
    }
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

// A C++ identifier for an asset's path: "app.js" -> "kAppJs".
function identifier(p) {
  return `k${p
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('')}`;
}

function byteArray(name, bytes) {
  const lines = [];
  for (let i = 0; i < bytes.length; i += 24) {
    const row = [];
    for (const b of bytes.subarray(i, i + 24)) row.push(`0x${b.toString(16).padStart(2, '0')}`);
    lines.push(`    ${row.join(',')},`);
  }
  return `static constexpr unsigned char ${name}[] = {\n${lines.join('\n')}\n};\n`;
}

function view(name, bytes) {
  if (bytes.length === 0) return 'std::string_view()';
  return `std::string_view(reinterpret_cast<const char*>(${name}), sizeof ${name})`;
}

function cppSource(files) {
  const arrays = [];
  const rows = [];
  for (const f of files) {
    const name = identifier(f.path);
    const gzip = zlib.gzipSync(f.body, { level: 9 });
    const smaller = gzip.length < f.body.length ? gzip : Buffer.alloc(0);
    const etag = createHash('sha256').update(f.body).digest('hex').slice(0, 16);
    const type = CONTENT_TYPES[path.extname(f.path)] ?? 'application/octet-stream';
    if (f.body.length) arrays.push(byteArray(name, f.body));
    if (smaller.length) arrays.push(byteArray(`${name}Gzip`, smaller));
    rows.push(
      `      {"${f.path}", "${type}",\n` +
        `       ${view(name, f.body)},\n` +
        `       ${view(`${name}Gzip`, smaller)},\n` +
        `       "\\"${etag}\\""},`,
    );
  }
  return `// generated by ui/build.mjs from ui/src; do not edit
#include "ui/assets.hpp"

namespace shepherd::ui {

${arrays.join('\n')}
std::span<const Asset> assets() {
  static const Asset table[] = {
${rows.join('\n')}
  };
  return table;
}

}  // namespace shepherd::ui
`;
}

function writeIfChanged(file, text) {
  let old = null;
  try {
    old = fs.readFileSync(file, 'utf8');
  } catch {
    // not written yet
  }
  if (old === text) return false;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
  return true;
}

const { out } = parseArgs(process.argv.slice(2));
ensureDependencies();
const files = await bundle();
const changed = writeIfChanged(out, cppSource(files));
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const sizes = files.map((f) => `${f.path} ${kib(f.body.length)}`).join(', ');
const shown = path.relative(process.cwd(), out);
console.log(`ui: ${sizes} -> ${shown.startsWith('..') ? out : shown}${changed ? '' : ' (unchanged)'}`);
