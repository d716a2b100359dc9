/**
 * CPU profiles of a stretch of work, summarised: `profiled("name", fn)` runs fn under the V8
 * profiler (node:inspector), writes `bench/.cache/<name>.cpuprofile` (open it in Chrome DevTools),
 * and prints the functions with the most self time.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export async function profiled<T>(name: string, fn: () => Promise<T>, top = 25): Promise<T> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 100 });
  await session.post("Profiler.start");
  let result: T;
  try {
    result = await fn();
  } finally {
    const { profile } = (await session.post("Profiler.stop")) as unknown as { profile: Profile };
    session.disconnect();
    mkdirSync("bench/.cache", { recursive: true });
    writeFileSync(`bench/.cache/${name}.cpuprofile`, JSON.stringify(profile));
    summarise(name, profile, top);
  }
  return result;
}

/** Prints the `top` functions of a V8 CPU profile by self time. */
export function summarise(name: string, profile: Profile, top = 25): void {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const node = byNode.get(id);
    if (!node) return;
    const f = node.callFrame;
    const file = f.url.replace(/^.*\/(node_modules\/)?/, "$1");
    const key = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  console.log(`\nprofile ${name}: ${(total / 1000).toFixed(0)} ms sampled; top self time`);
  for (const [key, us] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(
      `  ${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(1).padStart(8)} ms  ${key}`,
    );
  }
}
