/**
 * npm run docs:errors: writes the error table of docs/api.md from the service's own
 * (ERROR_STATUS, ERROR_MEANING in service/errors.ts), between its two markers.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { errorTable } from "../service/errors.ts";

export const API_DOC = "docs/api.md";
const START = /<!-- generated from ERROR_STATUS[^\n]*-->\n/;
const END = "<!-- end of the generated table -->";

/** The document with its table replaced by `table`. */
export function withErrorTable(doc: string, table: string): string {
  const start = START.exec(doc);
  const end = doc.indexOf(END);
  if (!start || end < 0) throw new Error(`${API_DOC} lost its error table's markers`);
  return `${doc.slice(0, start.index + start[0].length)}${table}\n${doc.slice(end)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(API_DOC, withErrorTable(readFileSync(API_DOC, "utf8"), errorTable()));
  process.stdout.write(`${API_DOC}: error table written\n`);
}
