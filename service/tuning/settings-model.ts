import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { defaultChoice, type RoutingChoice, SMALL_DATA } from "../routing/tuning.ts";
import type { SettingsStore, StoredSettings } from "../store/settings-store.ts";

/** Where the settings in force come from. */
export type SettingsSource = "default" | "tuned" | "pinned" | "file";

export interface SettingsModelOptions {
  /** Settings pinned by a ROUTING_SETTINGS file: in force while the file is configured. */
  file?: RoutingChoice;
  /** DEFAULT_K: overrides the k of whatever settings are in force. */
  defaultK?: number;
  /** How many examples there are now (recorded with pinned settings). */
  countExamples: () => number;
  /**
   * How many of the examples are operators' labels, counted up to `limit` at most (cheap at any
   * size): what the defaults suit (outcomes' examples each score one target).
   */
  countLabelsUpTo?: (limit: number) => number;
}

/**
 * The ranking settings in force: what /rank reads (`choice`, memory only), and pinning by hand.
 * Settings live in SQLite (`routing_settings`): `tuned` by self-tuning, `pinned` by hand (PUT
 * /admin/settings), or pinned by a ROUTING_SETTINGS file (`file`); with none, the safe defaults
 * (SAFE_CHOICE), which rank as the best single model per budget would. Tuning writes through
 * `SettingsStore` and then calls `refresh`; a replica refreshes on its own timer.
 */
export class SettingsModel {
  private stored: StoredSettings | undefined;
  private readonly listeners: Array<(source: SettingsSource) => void> = [];
  /** The labels counted up to SMALL_DATA (what the defaults depend on); undefined: count again. */
  private counted: number | undefined;

  constructor(
    private readonly settings: SettingsStore,
    private readonly logger: Logger,
    private readonly options: SettingsModelOptions,
  ) {
    this.refresh();
  }

  /** The settings /rank uses now: memory only, but for a bounded count after an example write. */
  choice(): RoutingChoice {
    const base =
      this.options.file ??
      (this.stored ? { k: this.stored.k, settings: this.stored.settings } : defaultChoice(this.examples()));
    return this.options.defaultK === undefined ? base : { ...base, k: this.options.defaultK };
  }

  /** After an example write or delete: the defaults may change with the number of examples. */
  noteWrite(): void {
    this.counted = undefined;
  }

  /** How many labelled examples there are, up to SMALL_DATA. */
  private examples(): number {
    this.counted ??= this.options.countLabelsUpTo
      ? this.options.countLabelsUpTo(SMALL_DATA)
      : Math.min(this.options.countExamples(), SMALL_DATA);
    return this.counted;
  }

  source(): SettingsSource {
    if (this.options.file) return "file";
    return this.stored?.source ?? "default";
  }

  /** What was last read from the database (undefined: nothing stored). */
  get current(): StoredSettings | undefined {
    return this.stored;
  }

  /** Tuning leaves pinned settings, and those of a file, alone. */
  get tunable(): boolean {
    return this.source() !== "pinned" && this.source() !== "file";
  }

  /** Called after a pin or an unpin, with the source in force then. */
  onChange(listener: (source: SettingsSource) => void): void {
    this.listeners.push(listener);
  }

  /** Pins settings by hand: tuning leaves them alone until `unpin`. */
  pin(choice: RoutingChoice): void {
    this.assertWritable();
    this.settings.write({
      k: choice.k,
      settings: choice.settings,
      source: "pinned",
      examples: this.options.countExamples(),
      dataVersion: this.settings.dataVersion(),
      evaluation: null,
      tunedAt: null,
    });
    this.refresh();
    this.logger.info("ranking settings pinned", { ...choice });
    this.changed();
  }

  /** Unpins: the defaults are in force again until tuned. */
  unpin(): void {
    this.assertWritable();
    if (this.stored?.source === "pinned") {
      this.settings.clear();
      this.refresh();
      this.logger.info("ranking settings unpinned; back to the defaults until tuned");
    }
    this.changed();
  }

  /**
   * The examples they were tuned on are gone (an import replaced them all): tuned settings go, and
   * the defaults for the examples there are now rank until tuning runs on them. Pinned settings
   * stay: an operator chose them.
   */
  forgetTuned(): void {
    if (this.options.file || this.stored?.source !== "tuned") return;
    this.settings.clear();
    this.refresh();
    this.logger.info(
      "tuned settings dropped: the examples they were tuned on were replaced; the defaults rank until tuned again",
    );
    this.changed();
  }

  /** Throws unless settings may be changed through the API here. */
  assertWritable(): void {
    if (this.options.file) {
      throw new AppError(
        "CONFLICT",
        "the settings are pinned by the ROUTING_SETTINGS file: unset it to manage them through the API",
      );
    }
  }

  /** Re-reads the stored settings. */
  refresh(): void {
    this.stored = this.settings.read();
    this.counted = undefined;
  }

  private changed(): void {
    const source = this.source();
    for (const listener of this.listeners) listener(source);
  }
}
