// A minimal WASI preview1 for running the test programs (wasm32-wasi commands) in a browser:
// stdout/stderr collected as text, arguments, the clocks, random bytes, exit codes. Files
// are not offered (path_open answers ENOSYS/52 through the fallback, as do other calls).
// A classic script (window.blWasi): runner.html runs a module synchronously, before the
// page's load event, so headless Chromium's --dump-dom sees the finished output.
(function () {
class ExitStatus extends Error {
    constructor(code) { super('exit ' + code); this.code = code; }
}

function wasiImports(args, getMemory, output) {
    const enc = new TextEncoder(), dec = new TextDecoder();
    const view = () => new DataView(getMemory().buffer);
    const bytes = () => new Uint8Array(getMemory().buffer);
    const argBytes = args.map((a) => enc.encode(a + '\0'));
    const impl = {
        args_sizes_get(countPtr, sizePtr) {
            view().setUint32(countPtr, argBytes.length, true);
            view().setUint32(sizePtr, argBytes.reduce((n, a) => n + a.length, 0), true);
            return 0;
        },
        args_get(argvPtr, bufPtr) {
            let p = bufPtr;
            argBytes.forEach((a, i) => { view().setUint32(argvPtr + 4 * i, p, true); bytes().set(a, p); p += a.length; });
            return 0;
        },
        environ_sizes_get(countPtr, sizePtr) { view().setUint32(countPtr, 0, true); view().setUint32(sizePtr, 0, true); return 0; },
        environ_get() { return 0; },
        clock_time_get(id, precision, timePtr) {
            const ns = BigInt(Math.round((id === 0 ? Date.now() : performance.now()) * 1e6));
            view().setBigUint64(timePtr, ns, true);
            return 0;
        },
        random_get(ptr, len) { crypto.getRandomValues(bytes().subarray(ptr, ptr + len)); return 0; },
        fd_write(fd, iovs, iovsLen, writtenPtr) {
            if (fd !== 1 && fd !== 2) return 8; // EBADF
            let n = 0;
            for (let i = 0; i < iovsLen; ++i) {
                const ptr = view().getUint32(iovs + 8 * i, true), len = view().getUint32(iovs + 8 * i + 4, true);
                output(dec.decode(bytes().slice(ptr, ptr + len)));
                n += len;
            }
            view().setUint32(writtenPtr, n, true);
            return 0;
        },
        fd_fdstat_get(fd, statPtr) {
            if (fd > 2) return 8;
            const v = view();
            v.setUint8(statPtr, 2); // character device
            v.setUint16(statPtr + 2, 0, true);
            v.setBigUint64(statPtr + 8, 0n, true);
            v.setBigUint64(statPtr + 16, 0n, true);
            return 0;
        },
        fd_prestat_get() { return 8; }, // no preopened directories
        proc_exit(code) { throw new ExitStatus(code); },
    };
    return new Proxy(impl, { get: (t, name) => t[name] || (() => 52) });
}

// Runs a WASI command module (its bytes) synchronously; returns { code, text }.
function runCommandSync(bytes, args) {
    let memory = null, text = '';
    const imports = { wasi_snapshot_preview1: wasiImports(args, () => memory, (s) => { text += s; }) };
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
    memory = instance.exports.memory;
    try {
        instance.exports._start();
        return { code: 0, text };
    } catch (e) {
        if (e instanceof ExitStatus) return { code: e.code, text };
        return { code: 134, text: text + '\n' + String(e) };
    }
}

window.blWasi = { wasiImports, runCommandSync, ExitStatus };
})();
