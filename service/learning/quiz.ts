import type { ActiveEmbedding } from "../core/active-embedding.ts";
import { AppError } from "../errors.ts";
import { coveringSample } from "../routing/coverage.ts";
import type { ExampleStore, ScoreMap } from "../store/example-store.ts";
import type { TargetStore } from "../store/target-store.ts";

/** Examples a quiz is chosen among, at most (spread evenly over a larger store). */
export const QUIZ_CANDIDATES = 4000;

/** Most prompts one quiz may hold. */
export const MAX_QUIZ = 500;

/** One prompt of a quiz: an operator's example with the scores it has, the quizzed target's to fill in. */
export interface QuizItem {
  id: string;
  text: string;
  category: string | null;
  scores: ScoreMap;
}

/**
 * A new target's quiz: prompts to score it on offline and import, the fast way to place a new model
 * when outcomes are slow. The prompts are operators' examples that do not score it yet, chosen to
 * cover the example space (`coveringSample`: one per region of a k-means partition, each its
 * region's most central example, the largest regions first), so that its few labels say where it
 * is good everywhere the router is asked. Each comes with the scores it has, so the scored line
 * imports as it is (the example is replaced with one more score).
 */
export class QuizService {
  constructor(
    private readonly examples: Pick<ExampleStore, "quizCandidates">,
    private readonly targets: Pick<TargetStore, "getTarget">,
    private readonly embedding: Pick<ActiveEmbedding, "current">,
  ) {}

  /** `n` prompts for `target`; NOT_FOUND for a target that does not exist. */
  quiz(target: string, n: number): QuizItem[] {
    if (!this.targets.getTarget(target)) {
      throw new AppError("NOT_FOUND", `no target ${target}: create it with PUT /admin/targets/{name} first`);
    }
    const candidates = this.examples.quizCandidates(
      this.embedding.current().embedder.id,
      target,
      QUIZ_CANDIDATES,
    );
    const chosen = coveringSample(
      candidates.map((c) => c.vector),
      n,
    );
    return chosen.map((i) => {
      const { id, text, category, scores } = candidates[i] as (typeof candidates)[number];
      return { id, text, category, scores };
    });
  }
}
