DROP INDEX `scores_example_cover_idx`;--> statement-breakpoint
ALTER TABLE `scores` ADD `baseline` real;--> statement-breakpoint
CREATE INDEX `scores_example_cover_idx` ON `scores` (`example_id`,`target`,`score`,`weight`,`baseline`);--> statement-breakpoint
ALTER TABLE `rankings` ADD `predictions` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `rankings` ADD `similarities` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `score_totals` ADD `rsum` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `score_totals` ADD `rn` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `score_totals` ADD `rweight` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `score_totals` ADD `rsq` real DEFAULT 0 NOT NULL;
--> statement-breakpoint
-- The totals' triggers again (0002, 0009): the label totals count operators' labels only (an outcome
-- is read against a baseline instead), and every score with a baseline adds its residual.
DROP TRIGGER `score_totals_on_insert`;
--> statement-breakpoint
DROP TRIGGER `score_totals_on_delete`;
--> statement-breakpoint
DROP TRIGGER `score_totals_on_update`;
--> statement-breakpoint
DROP TRIGGER `score_totals_on_recategorise`;
--> statement-breakpoint
-- A label's baseline: the mean of its example's other targets' scores (none: null).
UPDATE `scores` SET `baseline` = (
  SELECT avg(o.`score`) FROM `scores` o WHERE o.`example_id` = `scores`.`example_id` AND o.`target` <> `scores`.`target`
) WHERE `example_id` IN (SELECT `id` FROM `examples` WHERE `origin` = 'label');
--> statement-breakpoint
DELETE FROM `score_totals`;
--> statement-breakpoint
INSERT INTO `score_totals` (`category`, `target`, `sum`, `n`, `weight`, `rsum`, `rn`, `rweight`, `rsq`)
SELECT coalesce(e.`category`, ''), s.`target`,
  sum(CASE WHEN e.`origin` = 'label' THEN s.`weight` * s.`score` ELSE 0 END),
  sum(CASE WHEN e.`origin` = 'label' THEN 1 ELSE 0 END),
  sum(CASE WHEN e.`origin` = 'label' THEN s.`weight` ELSE 0 END),
  sum(CASE WHEN s.`baseline` IS NULL THEN 0 ELSE s.`weight` * (s.`score` - s.`baseline`) END),
  sum(CASE WHEN s.`baseline` IS NULL THEN 0 ELSE 1 END),
  sum(CASE WHEN s.`baseline` IS NULL THEN 0 ELSE s.`weight` END),
  sum(CASE WHEN s.`baseline` IS NULL THEN 0 ELSE s.`weight` * (s.`score` - s.`baseline`) * (s.`score` - s.`baseline`) END)
FROM `scores` s JOIN `examples` e ON e.`id` = s.`example_id`
GROUP BY 1, 2;
--> statement-breakpoint
CREATE TRIGGER `score_totals_on_insert` AFTER INSERT ON `scores` BEGIN
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
CREATE TRIGGER `score_totals_on_delete` AFTER DELETE ON `scores` BEGIN
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
CREATE TRIGGER `score_totals_on_update` AFTER UPDATE OF `score`, `weight`, `baseline`, `target`, `example_id` ON `scores` BEGIN
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
-- An example that changes category (or origin) moves its scores' totals with it. The write path clears
-- an example's scores before it rewrites the example, so this covers every other change.
CREATE TRIGGER `score_totals_on_recategorise` AFTER UPDATE OF `category`, `origin` ON `examples`
WHEN OLD.`category` IS NOT NEW.`category` OR OLD.`origin` IS NOT NEW.`origin` BEGIN
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
