import type { Reporter, TestModule } from "vitest/node";

/** A skipped test as the summary reads it: its full name (suites included) and its file. */
export interface Skipped {
  fullName: string;
  file: string;
}

/**
 * Why tests were skipped, one line per reason with how many and where: a suite or test that skips
 * says why in its name, `(skipped: <why>)`, the only place a `skipIf` can carry it. A skip without
 * one is listed as such, by name.
 */
export function skipReasons(skipped: readonly Skipped[]): string[] {
  const byReason = new Map<string, { tests: number; files: Set<string> }>();
  const unexplained: string[] = [];
  for (const t of skipped) {
    const reason = /\(skipped: ([^)]*)\)/.exec(t.fullName)?.[1];
    if (!reason) {
      unexplained.push(`  no reason given: ${t.fullName} (${t.file})`);
      continue;
    }
    const entry = byReason.get(reason) ?? { tests: 0, files: new Set<string>() };
    entry.tests++;
    entry.files.add(t.file);
    byReason.set(reason, entry);
  }
  return [
    ...[...byReason].map(
      ([reason, { tests, files }]) => `  ${tests} skipped: ${reason} (${[...files].sort().join(", ")})`,
    ),
    ...unexplained,
  ];
}

/**
 * Prints one plain closing line, `N passed, N failed, N skipped`, that any CI log reader
 * understands, after the reasons for the skipped ones.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const count = { passed: 0, failed: 0, skipped: 0 };
    const skipped: Skipped[] = [];
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === "passed" || state === "failed" || state === "skipped") count[state]++;
        if (state === "skipped") skipped.push({ fullName: t.fullName, file: m.relativeModuleId });
      }
    }
    const reasons = skipReasons(skipped);
    if (reasons.length > 0) process.stdout.write(`\nskipped, and why:\n${reasons.join("\n")}\n`);
    process.stdout.write(`\n${count.passed} passed, ${count.failed} failed, ${count.skipped} skipped\n`);
  }
}
