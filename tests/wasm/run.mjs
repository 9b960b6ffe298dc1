// Runs a wasm32-wasi command module under Node's WASI: node tests/wasm/run.mjs MODULE.wasm [ARGS...]
// Older node (Debian's 18) needs --experimental-wasi-unstable-preview1 (tests/run_wasm.sh adds it
// where node accepts it). The current directory is preopened as ".", so the tests' relative paths (tests/data/...,
// build/test/...) resolve as they do natively. The module's exit code becomes ours.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [file, ...args] = process.argv.slice(2);
if (!file) {
    console.error('usage: node run.mjs MODULE.wasm [ARGS...]');
    process.exit(2);
}
const options = { args: [file, ...args], env: {}, preopens: { '.': process.cwd() }, returnOnExit: true };
let wasi;
try {
    wasi = new WASI({ version: 'preview1', ...options }); // node >= 18.17 / 20 want a version
} catch {
    wasi = new WASI(options);
}
const imports = wasi.getImportObject ? wasi.getImportObject() : { wasi_snapshot_preview1: wasi.wasiImport };
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, imports);
process.exitCode = wasi.start(instance);
