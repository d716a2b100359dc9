DROP INDEX `scores_example_cover_idx`;--> statement-breakpoint
ALTER TABLE `scores` ADD `weight` real DEFAULT 1 NOT NULL;--> statement-breakpoint
CREATE INDEX `scores_example_cover_idx` ON `scores` (`example_id`,`target`,`score`,`weight`);--> statement-breakpoint
ALTER TABLE `score_totals` ADD `weight` real DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Every score stored so far weighs 1.
UPDATE `score_totals` SET `weight` = `n`;
--> statement-breakpoint
-- The totals' triggers (0002) again, each score counting with its weight: `sum` is Σ weight · score.
DROP TRIGGER `score_totals_on_insert`;
--> statement-breakpoint
DROP TRIGGER `score_totals_on_delete`;
--> statement-breakpoint
DROP TRIGGER `score_totals_on_update`;
--> statement-breakpoint
DROP TRIGGER `score_totals_on_recategorise`;
--> statement-breakpoint
CREATE TRIGGER `score_totals_on_insert` AFTER INSERT ON `scores` BEGIN
  INSERT INTO `score_totals` (`category`, `target`, `sum`, `n`, `weight`)
  SELECT coalesce(`category`, ''), NEW.`target`, NEW.`weight` * NEW.`score`, 1, NEW.`weight`
  FROM `examples` WHERE `id` = NEW.`example_id`
  ON CONFLICT (`category`, `target`) DO UPDATE
  SET `sum` = `sum` + excluded.`sum`, `n` = `n` + 1, `weight` = `weight` + excluded.`weight`;
END;
--> statement-breakpoint
CREATE TRIGGER `score_totals_on_delete` AFTER DELETE ON `scores` BEGIN
  UPDATE `score_totals`
  SET `sum` = `sum` - OLD.`weight` * OLD.`score`, `n` = `n` - 1, `weight` = `weight` - OLD.`weight`
  WHERE `target` = OLD.`target`
    AND `category` = (SELECT coalesce(`category`, '') FROM `examples` WHERE `id` = OLD.`example_id`);
  DELETE FROM `score_totals`
  WHERE `target` = OLD.`target` AND `n` <= 0
    AND `category` = (SELECT coalesce(`category`, '') FROM `examples` WHERE `id` = OLD.`example_id`);
END;
--> statement-breakpoint
CREATE TRIGGER `score_totals_on_update` AFTER UPDATE OF `score`, `weight`, `target`, `example_id` ON `scores` BEGIN
  UPDATE `score_totals`
  SET `sum` = `sum` - OLD.`weight` * OLD.`score`, `n` = `n` - 1, `weight` = `weight` - OLD.`weight`
  WHERE `target` = OLD.`target`
    AND `category` = (SELECT coalesce(`category`, '') FROM `examples` WHERE `id` = OLD.`example_id`);
  DELETE FROM `score_totals`
  WHERE `target` = OLD.`target` AND `n` <= 0
    AND `category` = (SELECT coalesce(`category`, '') FROM `examples` WHERE `id` = OLD.`example_id`);
  INSERT INTO `score_totals` (`category`, `target`, `sum`, `n`, `weight`)
  SELECT coalesce(`category`, ''), NEW.`target`, NEW.`weight` * NEW.`score`, 1, NEW.`weight`
  FROM `examples` WHERE `id` = NEW.`example_id`
  ON CONFLICT (`category`, `target`) DO UPDATE
  SET `sum` = `sum` + excluded.`sum`, `n` = `n` + 1, `weight` = `weight` + excluded.`weight`;
END;
--> statement-breakpoint
CREATE TRIGGER `score_totals_on_recategorise` AFTER UPDATE OF `category` ON `examples`
WHEN OLD.`category` IS NOT NEW.`category` BEGIN
  UPDATE `score_totals`
  SET `sum` = `sum` - (SELECT `weight` * `score` FROM `scores` WHERE `example_id` = NEW.`id` AND `target` = `score_totals`.`target`),
      `weight` = `weight` - (SELECT `weight` FROM `scores` WHERE `example_id` = NEW.`id` AND `target` = `score_totals`.`target`),
      `n` = `n` - 1
  WHERE `category` = coalesce(OLD.`category`, '')
    AND `target` IN (SELECT `target` FROM `scores` WHERE `example_id` = NEW.`id`);
  DELETE FROM `score_totals` WHERE `category` = coalesce(OLD.`category`, '') AND `n` <= 0;
  INSERT INTO `score_totals` (`category`, `target`, `sum`, `n`, `weight`)
  SELECT coalesce(NEW.`category`, ''), `target`, `weight` * `score`, 1, `weight` FROM `scores` WHERE `example_id` = NEW.`id`
  ON CONFLICT (`category`, `target`) DO UPDATE
  SET `sum` = `sum` + excluded.`sum`, `n` = `n` + 1, `weight` = `weight` + excluded.`weight`;
END;
