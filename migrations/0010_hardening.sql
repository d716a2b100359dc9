PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_outcomes` (
	`ranking_id` text NOT NULL,
	`target` text NOT NULL,
	`score` real NOT NULL,
	`status` text DEFAULT 'accepted' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`ranking_id`, `target`, `status`)
);
--> statement-breakpoint
INSERT INTO `__new_outcomes`("ranking_id", "target", "score", "status", "created_at", "updated_at") SELECT "ranking_id", "target", "score", "status", "created_at", "updated_at" FROM `outcomes`;--> statement-breakpoint
DROP TABLE `outcomes`;--> statement-breakpoint
ALTER TABLE `__new_outcomes` RENAME TO `outcomes`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `outcomes_status_idx` ON `outcomes` (`status`,`updated_at`);--> statement-breakpoint
CREATE TABLE `__new_pair_outcomes` (
	`ranking_id` text NOT NULL,
	`target_a` text NOT NULL,
	`target_b` text NOT NULL,
	`a_wins` real NOT NULL,
	`status` text DEFAULT 'accepted' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`ranking_id`, `target_a`, `target_b`, `status`)
);
--> statement-breakpoint
INSERT INTO `__new_pair_outcomes`("ranking_id", "target_a", "target_b", "a_wins", "status", "created_at", "updated_at") SELECT "ranking_id", "target_a", "target_b", "a_wins", "status", "created_at", "updated_at" FROM `pair_outcomes`;--> statement-breakpoint
DROP TABLE `pair_outcomes`;--> statement-breakpoint
ALTER TABLE `__new_pair_outcomes` RENAME TO `pair_outcomes`;--> statement-breakpoint
CREATE INDEX `pair_outcomes_status_idx` ON `pair_outcomes` (`status`,`updated_at`);--> statement-breakpoint
ALTER TABLE `examples` ADD `origin` text DEFAULT 'label' NOT NULL;--> statement-breakpoint
-- Examples outcomes made before origins were recorded: `feedback-` and a ranking id (a UUID).
UPDATE `examples` SET `origin` = 'outcome'
WHERE `id` GLOB 'feedback-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]';
