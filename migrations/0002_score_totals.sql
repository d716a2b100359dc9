CREATE TABLE `score_totals` (
	`category` text NOT NULL,
	`target` text NOT NULL,
	`sum` real NOT NULL,
	`n` integer NOT NULL,
	PRIMARY KEY(`category`, `target`)
);
--> statement-breakpoint
-- Totals of the scores already stored.
INSERT INTO `score_totals` (`category`, `target`, `sum`, `n`)
SELECT coalesce(e.`category`, ''), s.`target`, sum(s.`score`), count(*)
FROM `scores` s JOIN `examples` e ON e.`id` = s.`example_id`
GROUP BY 1, 2;
--> statement-breakpoint
CREATE TRIGGER `score_totals_on_insert` AFTER INSERT ON `scores` BEGIN
  INSERT INTO `score_totals` (`category`, `target`, `sum`, `n`)
  SELECT coalesce(`category`, ''), NEW.`target`, NEW.`score`, 1 FROM `examples` WHERE `id` = NEW.`example_id`
  ON CONFLICT (`category`, `target`) DO UPDATE SET `sum` = `sum` + excluded.`sum`, `n` = `n` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `score_totals_on_delete` AFTER DELETE ON `scores` BEGIN
  UPDATE `score_totals` SET `sum` = `sum` - OLD.`score`, `n` = `n` - 1
  WHERE `target` = OLD.`target`
    AND `category` = (SELECT coalesce(`category`, '') FROM `examples` WHERE `id` = OLD.`example_id`);
  DELETE FROM `score_totals`
  WHERE `target` = OLD.`target` AND `n` <= 0
    AND `category` = (SELECT coalesce(`category`, '') FROM `examples` WHERE `id` = OLD.`example_id`);
END;
--> statement-breakpoint
CREATE TRIGGER `score_totals_on_update` AFTER UPDATE OF `score`, `target`, `example_id` ON `scores` BEGIN
  UPDATE `score_totals` SET `sum` = `sum` - OLD.`score`, `n` = `n` - 1
  WHERE `target` = OLD.`target`
    AND `category` = (SELECT coalesce(`category`, '') FROM `examples` WHERE `id` = OLD.`example_id`);
  DELETE FROM `score_totals`
  WHERE `target` = OLD.`target` AND `n` <= 0
    AND `category` = (SELECT coalesce(`category`, '') FROM `examples` WHERE `id` = OLD.`example_id`);
  INSERT INTO `score_totals` (`category`, `target`, `sum`, `n`)
  SELECT coalesce(`category`, ''), NEW.`target`, NEW.`score`, 1 FROM `examples` WHERE `id` = NEW.`example_id`
  ON CONFLICT (`category`, `target`) DO UPDATE SET `sum` = `sum` + excluded.`sum`, `n` = `n` + 1;
END;
--> statement-breakpoint
-- The scores of a deleted example go while the example is still there to name their category
-- (the foreign key's cascade would delete them after it, when the category can no longer be read).
CREATE TRIGGER `score_totals_on_example_delete` BEFORE DELETE ON `examples` BEGIN
  DELETE FROM `scores` WHERE `example_id` = OLD.`id`;
END;
--> statement-breakpoint
CREATE TRIGGER `score_totals_on_recategorise` AFTER UPDATE OF `category` ON `examples`
WHEN OLD.`category` IS NOT NEW.`category` BEGIN
  UPDATE `score_totals`
  SET `sum` = `sum` - (SELECT `score` FROM `scores` WHERE `example_id` = NEW.`id` AND `target` = `score_totals`.`target`),
      `n` = `n` - 1
  WHERE `category` = coalesce(OLD.`category`, '')
    AND `target` IN (SELECT `target` FROM `scores` WHERE `example_id` = NEW.`id`);
  DELETE FROM `score_totals` WHERE `category` = coalesce(OLD.`category`, '') AND `n` <= 0;
  INSERT INTO `score_totals` (`category`, `target`, `sum`, `n`)
  SELECT coalesce(NEW.`category`, ''), `target`, `score`, 1 FROM `scores` WHERE `example_id` = NEW.`id`
  ON CONFLICT (`category`, `target`) DO UPDATE SET `sum` = `sum` + excluded.`sum`, `n` = `n` + 1;
END;
