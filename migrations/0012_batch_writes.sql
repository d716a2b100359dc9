CREATE TABLE `batch_writes` (
	`id` integer PRIMARY KEY NOT NULL
);
--> statement-breakpoint
CREATE TABLE `import_journal` (
	`import_id` text NOT NULL,
	`example_id` text NOT NULL,
	`action` text NOT NULL,
	`written_at` integer,
	`prior` text,
	`prior_vector` blob,
	PRIMARY KEY(`import_id`, `example_id`),
	FOREIGN KEY (`import_id`) REFERENCES `imports`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `imports` (
	`id` text PRIMARY KEY NOT NULL,
	`state` text NOT NULL,
	`mode` text NOT NULL,
	`started_at` integer NOT NULL
);
--> statement-breakpoint
DROP INDEX `scores_example_cover_idx`;

--> statement-breakpoint
-- Hand-written: `scores` again as a WITHOUT ROWID table (drizzle cannot say so): its rows in
-- primary-key order, so a score is one B-tree entry, not a row, its key and the covering index
-- dropped above. The triggers that name it go first and come back after, and every totals trigger
-- now stands aside while a batch write (a row in `batch_writes`) keeps the totals itself.
DROP TRIGGER `score_totals_on_insert`;
--> statement-breakpoint
DROP TRIGGER `score_totals_on_delete`;
--> statement-breakpoint
DROP TRIGGER `score_totals_on_update`;
--> statement-breakpoint
DROP TRIGGER `score_totals_on_recategorise`;
--> statement-breakpoint
DROP TRIGGER `score_totals_on_example_delete`;
--> statement-breakpoint
CREATE TABLE `scores_by_example` (
	`example_id` text NOT NULL,
	`target` text NOT NULL,
	`score` real NOT NULL,
	`weight` real DEFAULT 1 NOT NULL,
	`baseline` real,
	PRIMARY KEY(`example_id`, `target`),
	FOREIGN KEY (`example_id`) REFERENCES `examples`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`target`) REFERENCES `targets`(`name`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "scores_score_range" CHECK(`score` >= 0 AND `score` <= 1)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `scores_by_example` (`example_id`, `target`, `score`, `weight`, `baseline`)
SELECT `example_id`, `target`, `score`, `weight`, `baseline` FROM `scores`;
--> statement-breakpoint
DROP TABLE `scores`;
--> statement-breakpoint
ALTER TABLE `scores_by_example` RENAME TO `scores`;
--> statement-breakpoint
CREATE INDEX `scores_target_idx` ON `scores` (`target`);
--> statement-breakpoint
-- The scores of a deleted example go while the example is still there to name their category (0002).
CREATE TRIGGER `score_totals_on_example_delete` BEFORE DELETE ON `examples` BEGIN
  DELETE FROM `scores` WHERE `example_id` = OLD.`id`;
END;
--> statement-breakpoint
CREATE TRIGGER `score_totals_on_insert` AFTER INSERT ON `scores`
WHEN NOT EXISTS (SELECT 1 FROM `batch_writes`) BEGIN
  INSERT INTO `score_totals` (`category`, `target`, `sum`, `n`, `weight`, `rsum`, `rn`, `rweight`, `rsq`)
  SELECT coalesce(`category`, ''), NEW.`target`,
    CASE WHEN `origin` = 'label' THEN NEW.`weight` * NEW.`score` ELSE 0 END,
    CASE WHEN `origin` = 'label' THEN 1 ELSE 0 END,
    CASE WHEN `origin` = 'label' THEN NEW.`weight` ELSE 0 END,
    CASE WHEN NEW.`baseline` IS NULL THEN 0 ELSE NEW.`weight` * (NEW.`score` - NEW.`baseline`) END,
    CASE WHEN NEW.`baseline` IS NULL THEN 0 ELSE 1 END,
    CASE WHEN NEW.`baseline` IS NULL THEN 0 ELSE NEW.`weight` END,
    CASE WHEN NEW.`baseline` IS NULL THEN 0 ELSE NEW.`weight` * (NEW.`score` - NEW.`baseline`) * (NEW.`score` - NEW.`baseline`) END
  FROM `examples` WHERE `id` = NEW.`example_id`
  ON CONFLICT (`category`, `target`) DO UPDATE
  SET `sum` = `sum` + excluded.`sum`, `n` = `n` + excluded.`n`, `weight` = `weight` + excluded.`weight`,
      `rsum` = `rsum` + excluded.`rsum`, `rn` = `rn` + excluded.`rn`, `rweight` = `rweight` + excluded.`rweight`,
      `rsq` = `rsq` + excluded.`rsq`;
END;
--> statement-breakpoint
CREATE TRIGGER `score_totals_on_delete` AFTER DELETE ON `scores`
WHEN NOT EXISTS (SELECT 1 FROM `batch_writes`) BEGIN
  UPDATE `score_totals`
  SET `sum` = `sum` - (CASE WHEN e.`origin` = 'label' THEN OLD.`weight` * OLD.`score` ELSE 0 END),
      `n` = `n` - (CASE WHEN e.`origin` = 'label' THEN 1 ELSE 0 END),
      `weight` = `weight` - (CASE WHEN e.`origin` = 'label' THEN OLD.`weight` ELSE 0 END),
      `rsum` = `rsum` - (CASE WHEN OLD.`baseline` IS NULL THEN 0 ELSE OLD.`weight` * (OLD.`score` - OLD.`baseline`) END),
      `rn` = `rn` - (CASE WHEN OLD.`baseline` IS NULL THEN 0 ELSE 1 END),
      `rweight` = `rweight` - (CASE WHEN OLD.`baseline` IS NULL THEN 0 ELSE OLD.`weight` END),
      `rsq` = `rsq` - (CASE WHEN OLD.`baseline` IS NULL THEN 0 ELSE OLD.`weight` * (OLD.`score` - OLD.`baseline`) * (OLD.`score` - OLD.`baseline`) END)
  FROM (SELECT coalesce(`category`, '') AS `category`, `origin` FROM `examples` WHERE `id` = OLD.`example_id`) AS e
  WHERE `score_totals`.`target` = OLD.`target` AND `score_totals`.`category` = e.`category`;
  DELETE FROM `score_totals`
  WHERE `target` = OLD.`target` AND `n` <= 0 AND `rn` <= 0
    AND `category` = (SELECT coalesce(`category`, '') FROM `examples` WHERE `id` = OLD.`example_id`);
END;
--> statement-breakpoint
CREATE TRIGGER `score_totals_on_update` AFTER UPDATE OF `score`, `weight`, `baseline`, `target`, `example_id` ON `scores`
WHEN NOT EXISTS (SELECT 1 FROM `batch_writes`) BEGIN
  UPDATE `score_totals`
  SET `sum` = `sum` - (CASE WHEN e.`origin` = 'label' THEN OLD.`weight` * OLD.`score` ELSE 0 END),
      `n` = `n` - (CASE WHEN e.`origin` = 'label' THEN 1 ELSE 0 END),
      `weight` = `weight` - (CASE WHEN e.`origin` = 'label' THEN OLD.`weight` ELSE 0 END),
      `rsum` = `rsum` - (CASE WHEN OLD.`baseline` IS NULL THEN 0 ELSE OLD.`weight` * (OLD.`score` - OLD.`baseline`) END),
      `rn` = `rn` - (CASE WHEN OLD.`baseline` IS NULL THEN 0 ELSE 1 END),
      `rweight` = `rweight` - (CASE WHEN OLD.`baseline` IS NULL THEN 0 ELSE OLD.`weight` END),
      `rsq` = `rsq` - (CASE WHEN OLD.`baseline` IS NULL THEN 0 ELSE OLD.`weight` * (OLD.`score` - OLD.`baseline`) * (OLD.`score` - OLD.`baseline`) END)
  FROM (SELECT coalesce(`category`, '') AS `category`, `origin` FROM `examples` WHERE `id` = OLD.`example_id`) AS e
  WHERE `score_totals`.`target` = OLD.`target` AND `score_totals`.`category` = e.`category`;
  DELETE FROM `score_totals`
  WHERE `target` = OLD.`target` AND `n` <= 0 AND `rn` <= 0
    AND `category` = (SELECT coalesce(`category`, '') FROM `examples` WHERE `id` = OLD.`example_id`);
  INSERT INTO `score_totals` (`category`, `target`, `sum`, `n`, `weight`, `rsum`, `rn`, `rweight`, `rsq`)
  SELECT coalesce(`category`, ''), NEW.`target`,
    CASE WHEN `origin` = 'label' THEN NEW.`weight` * NEW.`score` ELSE 0 END,
    CASE WHEN `origin` = 'label' THEN 1 ELSE 0 END,
    CASE WHEN `origin` = 'label' THEN NEW.`weight` ELSE 0 END,
    CASE WHEN NEW.`baseline` IS NULL THEN 0 ELSE NEW.`weight` * (NEW.`score` - NEW.`baseline`) END,
    CASE WHEN NEW.`baseline` IS NULL THEN 0 ELSE 1 END,
    CASE WHEN NEW.`baseline` IS NULL THEN 0 ELSE NEW.`weight` END,
    CASE WHEN NEW.`baseline` IS NULL THEN 0 ELSE NEW.`weight` * (NEW.`score` - NEW.`baseline`) * (NEW.`score` - NEW.`baseline`) END
  FROM `examples` WHERE `id` = NEW.`example_id`
  ON CONFLICT (`category`, `target`) DO UPDATE
  SET `sum` = `sum` + excluded.`sum`, `n` = `n` + excluded.`n`, `weight` = `weight` + excluded.`weight`,
      `rsum` = `rsum` + excluded.`rsum`, `rn` = `rn` + excluded.`rn`, `rweight` = `rweight` + excluded.`rweight`,
      `rsq` = `rsq` + excluded.`rsq`;
END;
--> statement-breakpoint
CREATE TRIGGER `score_totals_on_recategorise` AFTER UPDATE OF `category`, `origin` ON `examples`
WHEN (OLD.`category` IS NOT NEW.`category` OR OLD.`origin` IS NOT NEW.`origin`) AND NOT EXISTS (SELECT 1 FROM `batch_writes`) BEGIN
  UPDATE `score_totals`
  SET `sum` = `sum` - coalesce((SELECT CASE WHEN OLD.`origin` = 'label' THEN s.`weight` * s.`score` ELSE 0 END FROM `scores` s WHERE s.`example_id` = NEW.`id` AND s.`target` = `score_totals`.`target`), 0),
      `n` = `n` - (CASE WHEN OLD.`origin` = 'label' THEN 1 ELSE 0 END),
      `weight` = `weight` - coalesce((SELECT CASE WHEN OLD.`origin` = 'label' THEN s.`weight` ELSE 0 END FROM `scores` s WHERE s.`example_id` = NEW.`id` AND s.`target` = `score_totals`.`target`), 0),
      `rsum` = `rsum` - coalesce((SELECT CASE WHEN s.`baseline` IS NULL THEN 0 ELSE s.`weight` * (s.`score` - s.`baseline`) END FROM `scores` s WHERE s.`example_id` = NEW.`id` AND s.`target` = `score_totals`.`target`), 0),
      `rn` = `rn` - coalesce((SELECT CASE WHEN s.`baseline` IS NULL THEN 0 ELSE 1 END FROM `scores` s WHERE s.`example_id` = NEW.`id` AND s.`target` = `score_totals`.`target`), 0),
      `rweight` = `rweight` - coalesce((SELECT CASE WHEN s.`baseline` IS NULL THEN 0 ELSE s.`weight` END FROM `scores` s WHERE s.`example_id` = NEW.`id` AND s.`target` = `score_totals`.`target`), 0),
      `rsq` = `rsq` - coalesce((SELECT CASE WHEN s.`baseline` IS NULL THEN 0 ELSE s.`weight` * (s.`score` - s.`baseline`) * (s.`score` - s.`baseline`) END FROM `scores` s WHERE s.`example_id` = NEW.`id` AND s.`target` = `score_totals`.`target`), 0)
  WHERE `category` = coalesce(OLD.`category`, '')
    AND `target` IN (SELECT `target` FROM `scores` WHERE `example_id` = NEW.`id`);
  DELETE FROM `score_totals` WHERE `category` = coalesce(OLD.`category`, '') AND `n` <= 0 AND `rn` <= 0;
  INSERT INTO `score_totals` (`category`, `target`, `sum`, `n`, `weight`, `rsum`, `rn`, `rweight`, `rsq`)
  SELECT coalesce(NEW.`category`, ''), `target`,
    CASE WHEN NEW.`origin` = 'label' THEN `weight` * `score` ELSE 0 END,
    CASE WHEN NEW.`origin` = 'label' THEN 1 ELSE 0 END,
    CASE WHEN NEW.`origin` = 'label' THEN `weight` ELSE 0 END,
    CASE WHEN `baseline` IS NULL THEN 0 ELSE `weight` * (`score` - `baseline`) END,
    CASE WHEN `baseline` IS NULL THEN 0 ELSE 1 END,
    CASE WHEN `baseline` IS NULL THEN 0 ELSE `weight` END,
    CASE WHEN `baseline` IS NULL THEN 0 ELSE `weight` * (`score` - `baseline`) * (`score` - `baseline`) END
  FROM `scores` WHERE `example_id` = NEW.`id`
  ON CONFLICT (`category`, `target`) DO UPDATE
  SET `sum` = `sum` + excluded.`sum`, `n` = `n` + excluded.`n`, `weight` = `weight` + excluded.`weight`,
      `rsum` = `rsum` + excluded.`rsum`, `rn` = `rn` + excluded.`rn`, `rweight` = `rweight` + excluded.`rweight`,
      `rsq` = `rsq` + excluded.`rsq`;
END;
