// Byte-compiles pure-Python wheels with Pyodide's own CPython (see byte_compile.py).
// Usage: node byte_compile.mjs PYODIDE_DIR PLAN_JSON WHEEL...
// PLAN_JSON: {"modules": [dotted names to compile], "keep_source": [wheel file names
// that keep their source, with bytecode in __pycache__ beside it]}. Wheels are rewritten in
// place; the interpreter's cache tag, then one line per wheel (name, modules
// compiled, bytes of source replaced) are printed.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [pyodideDir, planJson, ...wheels] = process.argv.slice(2);
const indexURL = path.resolve(pyodideDir) + "/";
const { loadPyodide } = await import(path.join(indexURL, "pyodide.mjs"));
const py = await loadPyodide({ indexURL, stdout: () => {}, stderr: (s) => console.error(s) });
const here = path.dirname(fileURLToPath(import.meta.url));
py.FS.mkdirTree("/wheels");
const inside = wheels.map((w) => {
  const p = "/wheels/" + path.basename(w);
  py.FS.writeFile(p, fs.readFileSync(w));
  return p;
});
py.runPython(fs.readFileSync(path.join(here, "byte_compile.py"), "utf8"));
const plan = JSON.parse(fs.readFileSync(planJson, "utf8"));
const report = py.globals.get("compile_wheels")(py.toPy(inside), py.toPy(plan.modules), py.toPy(plan.keep_source));
wheels.forEach((w, i) => fs.writeFileSync(w, py.FS.readFile(inside[i])));
console.log(report);
