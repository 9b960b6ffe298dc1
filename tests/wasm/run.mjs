// Runs a wasm32-wasi command module under Node's WASI: node tests/wasm/run.mjs MODULE.wasm [ARGS...]
// The current directory is preopened as ".", so the tests' relative paths (tests/data/...,
// build/test/...) resolve as they do natively. The module's exit code becomes ours.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [file, ...args] = process.argv.slice(2);
if (!file) {
    console.error('usage: node run.mjs MODULE.wasm [ARGS...]');
    process.exit(2);
}
const wasi = new WASI({
    version: 'preview1',
    args: [file, ...args],
    env: {},
    preopens: { '.': process.cwd() },
    returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
