import { NO_TEMPLATES, type Templates } from "../embedding/templates.ts";
import type { StateStore } from "../store/state-store.ts";

/** `service_state` keys: the templates in force (JSON), and the last that lost a trial (digest, examples). */
export const TEMPLATES_KEY = "templates";
const REJECTED_KEY = "templates_rejected";

/** The learned templates in force, as the database records them. */
export function readTemplates(state: StateStore): Templates {
  const raw = state.get(TEMPLATES_KEY);
  return raw === undefined ? NO_TEMPLATES : (JSON.parse(raw) as Templates);
}

/** Records `templates` as in force (inside the transaction that commits a switch). */
export function writeTemplates(state: StateStore, templates: Templates): void {
  state.set(TEMPLATES_KEY, JSON.stringify(templates));
}

/** The templates that last lost a trial, and on how many examples. */
export function readRejected(state: StateStore): { digest: string; examples: number } | undefined {
  const raw = state.get(REJECTED_KEY);
  return raw === undefined ? undefined : (JSON.parse(raw) as { digest: string; examples: number });
}

export function writeRejected(state: StateStore, rejected: { digest: string; examples: number }): void {
  state.set(REJECTED_KEY, JSON.stringify(rejected));
}
