import { Presets, SingleBar } from "cli-progress";

/** Where a bar draws: a terminal stream (stderr). */
export interface ProgressStream extends NodeJS.WritableStream {
  isTTY?: boolean;
}

/**
 * A progress callback `(done, total)` for a long CLI job, drawn as one bar labelled `label` on
 * `stream` (default stderr); silent when the stream is not a terminal (logs, CI), where a bar
 * would only be noise.
 */
export function progressBar(
  label: string,
  stream: ProgressStream = process.stderr,
): (done: number, total: number) => void {
  if (!stream.isTTY) return () => undefined;
  let bar: SingleBar | undefined;
  return (done, total) => {
    if (!bar) {
      bar = new SingleBar(
        {
          format: `${label} [{bar}] {value}/{total} {percentage}% | eta {eta_formatted}`,
          stream,
          hideCursor: true,
          etaBuffer: 50,
        },
        Presets.shades_classic,
      );
      bar.start(total, done);
    }
    bar.setTotal(total);
    bar.update(done);
    if (done >= total) {
      bar.stop();
      bar = undefined;
    }
  };
}
