// Runs a script on the official MicroPython WebAssembly port under Node.js, for the firmware tests.
//
//   node run.mjs MICROPYTHON.mjs SCRIPT.py PORT_FD FILE...
//
// Each FILE is copied to the interpreter's root folder (import it after sys.path.insert(0, "/")).
// The script's print() goes to stdout. PORT_FD (-1 for none) is a serial line (the master end of a
// pty): the script reaches it through the `host` module, bytes as hex text:
//   host.read(n) -> up to n bytes that have arrived ("" if none), host.write(hex),
//   host.wait(ms) -> true as soon as a byte is there, false after ms without one.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [mjs, script, fdText, ...files] = process.argv.slice(2);
const fd = Number(fdText);
await import(pathToFileURL(path.resolve(mjs)).href);
const mp = await globalThis.loadMicroPython({
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
for (const file of files) mp.FS.writeFile("/" + path.basename(file), fs.readFileSync(file));

const pending = [];
const sleeper = new Int32Array(new SharedArrayBuffer(4));
function pull(max) {
  const buffer = Buffer.alloc(max);
  try {
    const n = fs.readSync(fd, buffer, 0, max, null);
    for (let i = 0; i < n; i++) pending.push(buffer[i]);
  } catch (err) {
    if (err.code !== "EAGAIN") throw err;
  }
}
mp.registerJsModule("host", {
  read(n) {
    if (pending.length === 0) pull(4096);
    return Buffer.from(pending.splice(0, n)).toString("hex");
  },
  write(hex) {
    const data = Buffer.from(hex, "hex");
    for (let done = 0; done < data.length; ) {
      try {
        done += fs.writeSync(fd, data, done);
      } catch (err) {
        if (err.code !== "EAGAIN") throw err;
        Atomics.wait(sleeper, 0, 0, 1);
      }
    }
  },
  wait(ms) {
    const end = Date.now() + ms;
    for (;;) {
      if (pending.length === 0) pull(4096);
      if (pending.length > 0) return true;
      if (Date.now() >= end) return false;
      Atomics.wait(sleeper, 0, 0, 2);
    }
  },
});
try {
  mp.runPython(fs.readFileSync(script, "utf8"));
} catch (err) {
  process.stderr.write(String(err) + "\n");
  process.exit(1);
}
