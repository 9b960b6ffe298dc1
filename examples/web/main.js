// Loads web.wasm (examples/web/web.c built for wasm32) and model.blm, runs a forward on the
// text box's contents and shows the logits, the predicted class and the time per forward.
// ?input=TEXT (repeatable) runs each text once on load; #bits then holds one line per text
// with the logits' float bits (tests/run_web.sh compares them with the native build's).

// web.c built with wasi-libc imports a few WASI functions it never calls on this path
// (stdio it links but does not use); each answers ENOSYS (52), and proc_exit throws.
function wasiStubs() {
    return new Proxy({}, {
        get(_, name) {
            if (name === 'proc_exit') return (code) => { throw new Error('wasm exited with ' + code); };
            return () => 52;
        },
    });
}

const $ = (id) => document.getElementById(id);

async function main() {
    const [wasmBytes, modelBytes] = await Promise.all([
        fetch('web.wasm').then((r) => { if (!r.ok) throw new Error('web.wasm: ' + r.status); return r.arrayBuffer(); }),
        fetch('model.blm').then((r) => { if (!r.ok) throw new Error('model.blm: ' + r.status); return r.arrayBuffer(); }),
    ]);
    const { instance } = await WebAssembly.instantiate(wasmBytes, { wasi_snapshot_preview1: wasiStubs() });
    const w = instance.exports;
    if (w._initialize) w._initialize(); // a WASI reactor: runs the C constructors
    const mem = () => new Uint8Array(w.memory.buffer);
    const cstring = (ptr) => { const m = mem(); let end = ptr; while (m[end]) ++end; return new TextDecoder().decode(m.subarray(ptr, end)); };

    const modelPtr = w.web_alloc(modelBytes.byteLength);
    mem().set(new Uint8Array(modelBytes), modelPtr);
    let status = w.web_load(modelPtr, modelBytes.byteLength);
    w.web_free(modelPtr); // web_load copies
    if (status !== 0) throw new Error('web_load: status ' + status);
    const backend = cstring(w.web_backend());

    function forward(text) {
        const bytes = new TextEncoder().encode(text);
        const ptr = w.web_alloc(bytes.length || 1);
        mem().set(bytes, ptr);
        // time per forward: repeat for about 50 ms (3 to 2000 times), report the mean; the cap
        // also ends the loop where the clock stands still (headless virtual time)
        let reps = 0, st = 0;
        const t0 = performance.now();
        do { st = w.web_forward(ptr, bytes.length); ++reps; }
        while (st === 0 && reps < 2000 && (reps < 3 || performance.now() - t0 < 50));
        const us = (performance.now() - t0) * 1000 / reps;
        w.web_free(ptr);
        if (st !== 0) throw new Error('web_forward: status ' + st);
        const n = w.web_output_count();
        const y = new Float32Array(w.memory.buffer, w.web_outputs(), n).slice();
        const bits = Array.from(new Uint32Array(y.buffer), (b) => b.toString(16).padStart(8, '0'));
        let best = 0;
        for (let i = 1; i < n; ++i) if (y[i] > y[best]) best = i;
        $('result').textContent =
            'logits: ' + Array.from(y, (v) => v.toFixed(4)).join(' ') + '\n' +
            'class: ' + best + '\n' +
            'time per forward: ' + us.toFixed(1) + ' us (' + reps + ' forwards, backend ' + backend + ')';
        return 'logits: ' + bits.join(' ') + ' class: ' + best; // exact float bits, for tests
    }

    $('run').disabled = false;
    $('status').textContent = 'ready (' + backend + ' backend, ' + modelBytes.byteLength + '-byte model)';
    $('run').addEventListener('click', () => { $('bits').textContent = forward($('input').value); });
    const given = new URLSearchParams(location.search).getAll('input');
    if (given.length) {
        $('input').value = given[given.length - 1];
        $('bits').textContent = given.map(forward).join('\n');
        document.body.dataset.done = '1';
    }
}

main().catch((e) => { $('status').textContent = 'error: ' + e.message; document.body.dataset.done = 'error'; });
