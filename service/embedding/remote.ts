import { AppError } from "../errors.ts";

/** One request to an embedding server: the vectors of `texts`, in order, or an AppError. */
export type EmbedRequest = (texts: readonly string[]) => Promise<Float32Array[]>;

/**
 * The model's dimension, from the vector of a probe text. When the server does not answer (a
 * failure a retry could mend) and the stored vectors already say the dimension (`known`), that one:
 * the service then starts not ready instead of failing.
 */
export async function probeDimension(request: EmbedRequest, known: number | undefined): Promise<number> {
  try {
    const [vector] = await request(["dimension probe"]);
    return (vector as Float32Array).length;
  } catch (err) {
    const down = err instanceof AppError && err.retryAfterSeconds !== undefined;
    if (down && known !== undefined) return known;
    throw err;
  }
}

/** `texts` embedded `batchSize` at a time; a vector of another dimension than `dimension` is refused. */
export async function embedInBatches(
  texts: readonly string[],
  batchSize: number,
  dimension: number,
  request: EmbedRequest,
): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += batchSize) {
    const vectors = await request(texts.slice(i, i + batchSize));
    for (const v of vectors) {
      if (dimension > 0 && v.length !== dimension) {
        throw new AppError(
          "EMBEDDER_UNAVAILABLE",
          `embedding server answered ${v.length} dimensions, expected ${dimension}`,
        );
      }
    }
    out.push(...vectors);
  }
  return out;
}
