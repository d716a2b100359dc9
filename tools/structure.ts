/**
 * The shape of service/ in numbers: lines per folder, the largest files and the longest functions
 * (methods, functions and arrow functions bound to a name), read with the TypeScript parser.
 *
 *   npm run structure [-- --dir service --top 10]
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import ts from "typescript";

interface FunctionSize {
  file: string;
  name: string;
  lines: number;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mjs)$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

function lineCount(text: string): number {
  return text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
}

/** Every named function-like node of `file`, with its length in lines. */
function functionsOf(file: string, text: string): FunctionSize[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: FunctionSize[] = [];
  const lines = (node: ts.Node) =>
    source.getLineAndCharacterOfPosition(node.getEnd()).line -
    source.getLineAndCharacterOfPosition(node.getStart(source)).line +
    1;
  const visit = (node: ts.Node, owner: string | undefined) => {
    let name: string | undefined;
    if (ts.isFunctionDeclaration(node) && node.name) name = node.name.text;
    else if ((ts.isMethodDeclaration(node) || ts.isGetAccessor(node)) && ts.isIdentifier(node.name))
      name = `${owner ? `${owner}.` : ""}${node.name.text}`;
    else if (ts.isConstructorDeclaration(node)) name = `${owner ?? "?"}.constructor`;
    else if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.initializer &&
      (ts.isArrowFunction(node.initializer) || ts.isFunctionExpression(node.initializer))
    )
      name = node.name.text;
    if (name) out.push({ file, name, lines: lines(node) });
    const nextOwner = ts.isClassDeclaration(node) && node.name ? node.name.text : owner;
    ts.forEachChild(node, (child) => visit(child, nextOwner));
  };
  visit(source, undefined);
  return out;
}

function main(): void {
  const { values } = parseArgs({
    options: { dir: { type: "string", default: "service" }, top: { type: "string", default: "10" } },
  });
  const dir = values.dir;
  const top = Number(values.top);
  const files = sourceFiles(dir).map((path) => {
    const text = readFileSync(path, "utf8");
    return { path: relative(".", path), lines: lineCount(text), functions: functionsOf(path, text) };
  });
  const folders = new Map<string, { files: number; lines: number }>();
  for (const f of files) {
    const rel = relative(dir, f.path);
    const folder = rel.includes("/") ? `${rel.split("/")[0]}/` : "(root files)";
    const entry = folders.get(folder) ?? { files: 0, lines: 0 };
    folders.set(folder, { files: entry.files + 1, lines: entry.lines + f.lines });
  }
  const total = files.reduce((a, f) => a + f.lines, 0);
  process.stdout.write(`${dir}/: ${files.length} files, ${total} lines\n\nfolders\n`);
  for (const [name, f] of [...folders].sort((a, b) => b[1].lines - a[1].lines))
    process.stdout.write(
      `  ${name.padEnd(16)} ${String(f.files).padStart(3)} files ${String(f.lines).padStart(6)} lines\n`,
    );
  process.stdout.write("\nlargest files\n");
  for (const f of [...files].sort((a, b) => b.lines - a.lines).slice(0, top))
    process.stdout.write(`  ${String(f.lines).padStart(5)}  ${f.path}\n`);
  process.stdout.write("\nlongest functions\n");
  const functions = files.flatMap((f) => f.functions.map((fn) => ({ ...fn, file: f.path })));
  for (const fn of functions.sort((a, b) => b.lines - a.lines).slice(0, top))
    process.stdout.write(`  ${String(fn.lines).padStart(5)}  ${fn.file}  ${fn.name}\n`);
}

main();
