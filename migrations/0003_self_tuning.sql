CREATE TABLE `data_version` (
	`id` integer PRIMARY KEY NOT NULL,
	`changes` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `routing_settings` (
	`id` integer PRIMARY KEY NOT NULL,
	`settings` text NOT NULL,
	`source` text NOT NULL,
	`examples` integer,
	`data_version` integer,
	`evaluation` text,
	`tuned_at` integer,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
-- Hand-written: the change counter starts at the number of examples already stored, and every
-- insert, rewrite (not the `indexed` flag the sync sets) or delete of an example bumps it in the write's own transaction.
INSERT INTO `data_version` (`id`, `changes`) SELECT 1, count(*) FROM `examples`;
--> statement-breakpoint
CREATE TRIGGER `data_version_on_insert` AFTER INSERT ON `examples` BEGIN
  UPDATE `data_version` SET `changes` = `changes` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `data_version_on_update` AFTER UPDATE OF `text`, `category`, `updated_at` ON `examples` BEGIN
  UPDATE `data_version` SET `changes` = `changes` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `data_version_on_delete` AFTER DELETE ON `examples` BEGIN
  UPDATE `data_version` SET `changes` = `changes` + 1 WHERE `id` = 1;
END;
