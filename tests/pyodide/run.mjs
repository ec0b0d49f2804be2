#!/usr/bin/env node
// Run a Python script inside real Pyodide under Node, fully offline.
//
//   node tests/pyodide/run.mjs [--package DIR | --package NAME=DIR]... [--timing]
//                              [--] SCRIPT.py|- [ARGS...]
//
// Pyodide is loaded from node_modules/pyodide (install with `npm ci`); nothing
// is fetched: no loadPackage(), no micropip. Each --package directory is copied
// (without __pycache__; a sourceless x.pyc is kept) to /home/pyodide/src/<NAME> and /home/pyodide/src
// is put first on sys.path, so pure-Python packages and their data files
// (read via importlib.resources) work as in CPython. SCRIPT "-" reads stdin.
// The script runs as __main__ with sys.argv = [SCRIPT, ...ARGS]; its stdout and
// stderr go to ours. Exit status: the script's (SystemExit honoured), 1 with
// the traceback on stderr if it raises, 2 for a usage or set-up error.
// --timing prints load/copy/run milliseconds to stderr as one JSON line,
// prefixed "pyodide-timing: ". Pyodide loads once per invocation, so a
// benchmark should loop inside the script.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, "..", "..");
const SRC_DIR = "/home/pyodide/src";
const SKIP_DIRS = new Set(["__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache"]);

function die(msg) {
  process.stderr.write(`run.mjs: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const packages = [];
  let timing = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") { i++; break; }
    if (a === "--timing") { timing = true; continue; }
    if (a === "-h" || a === "--help") {
      process.stdout.write(
        "usage: node tests/pyodide/run.mjs [--package [NAME=]DIR]... [--timing] [--] SCRIPT.py|- [ARGS...]\n",
      );
      process.exit(0);
    }
    if (a === "--package" || a.startsWith("--package=")) {
      const spec = a === "--package" ? argv[++i] : a.slice("--package=".length);
      if (!spec) die("--package needs a directory");
      const eq = spec.indexOf("=");
      const dir = path.resolve(eq > 0 ? spec.slice(eq + 1) : spec);
      const name = eq > 0 ? spec.slice(0, eq) : path.basename(dir);
      if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) die(`not a directory: ${dir}`);
      if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) die(`bad package name: ${name}`);
      packages.push({ name, dir });
      continue;
    }
    if (a.startsWith("-") && a !== "-") die(`unknown option: ${a}`);
    break;
  }
  if (i >= argv.length) die("missing SCRIPT (a file path, or - for stdin)");
  return { packages, timing, script: argv[i], scriptArgs: argv.slice(i + 1) };
}

function copyTree(FS, hostDir, destDir) {
  FS.mkdirTree(destDir);
  let files = 0;
  for (const ent of fs.readdirSync(hostDir, { withFileTypes: true })) {
    const src = path.join(hostDir, ent.name);
    const dest = `${destDir}/${ent.name}`;
    const st = fs.statSync(src); // follows symlinks
    if (st.isDirectory()) {
      if (!SKIP_DIRS.has(ent.name)) files += copyTree(FS, src, dest);
    } else if (st.isFile()) {
      FS.writeFile(dest, fs.readFileSync(src));
      files++;
    }
  }
  return files;
}

function sink(stream) {
  // Pyodide hands us a view into WASM memory: copy before queueing the write.
  return { write: (buf) => { stream.write(Buffer.from(buf)); return buf.length; } };
}

const RUNNER = `
import sys, traceback

def _cost_levers_run(source, filename, argv, src_dir):
    import importlib
    sys.path.insert(0, src_dir)
    importlib.invalidate_caches()
    sys.argv = list(argv)
    main = type(sys)("__main__")
    main.__file__ = filename
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    import linecache
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    status = 0
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
        exec(code, main.__dict__)
    except SystemExit as exc:
        if exc.code is None:
            status = 0
        elif isinstance(exc.code, int):
            status = exc.code
        else:
            print(exc.code, file=sys.stderr)
            status = 1
    except BaseException as exc:
        tb = exc.__traceback__
        if tb is not None and tb.tb_frame.f_code is _cost_levers_run.__code__:
            tb = tb.tb_next  # hide this runner's own frame
        traceback.print_exception(type(exc), exc, tb)
        status = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    return status
`;

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const indexURL = path.join(REPO_ROOT, "node_modules", "pyodide") + path.sep;
  if (!fs.existsSync(path.join(indexURL, "pyodide.asm.wasm"))) {
    die(`Pyodide not found at ${indexURL}: run \`npm ci\` in ${REPO_ROOT}`);
  }
  let source;
  let filename;
  if (opts.script === "-") {
    source = fs.readFileSync(0, "utf8");
    filename = "<stdin>";
  } else {
    filename = path.resolve(opts.script);
    if (!fs.existsSync(filename)) die(`no such script: ${filename}`);
    source = fs.readFileSync(filename, "utf8");
  }

  const t0 = performance.now();
  const { loadPyodide } = await import(path.join(indexURL, "pyodide.mjs"));
  const py = await loadPyodide({ indexURL, packages: [] });
  py.setStdout(sink(process.stdout));
  py.setStderr(sink(process.stderr));
  py.setStdin({ stdin: () => null }); // EOF: the script, not Python, owns our stdin
  // Guard offline use: any attempt to download a package is a bug here.
  py.loadPackage = async (names) => {
    throw new Error(`run.mjs is offline; refusing loadPackage(${JSON.stringify(names)})`);
  };
  const t1 = performance.now();

  let files = 0;
  for (const { name, dir } of opts.packages) files += copyTree(py.FS, dir, `${SRC_DIR}/${name}`);
  py.FS.mkdirTree(SRC_DIR);
  const t2 = performance.now();

  py.runPython(RUNNER);
  const run = py.globals.get("_cost_levers_run");
  const argv = py.toPy([filename === "<stdin>" ? "-" : filename, ...opts.scriptArgs]);
  let status;
  try {
    status = run(source, filename, argv, SRC_DIR);
  } finally {
    argv.destroy();
    run.destroy();
  }
  const t3 = performance.now();
  if (opts.timing) {
    const ms = (x) => Math.round(x * 10) / 10;
    process.stderr.write(
      `pyodide-timing: ${JSON.stringify({ load_ms: ms(t1 - t0), copy_ms: ms(t2 - t1), run_ms: ms(t3 - t2), files })}\n`,
    );
  }
  return status;
}

let code;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`run.mjs: ${err && err.stack ? err.stack : err}\n`);
  code = 2;
}
// Let queued stdout/stderr writes drain before exiting.
process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
