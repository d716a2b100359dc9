CREATE TABLE `pair_outcomes` (
	`ranking_id` text NOT NULL,
	`target_a` text NOT NULL,
	`target_b` text NOT NULL,
	`a_wins` real NOT NULL,
	`status` text DEFAULT 'accepted' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`ranking_id`, `target_a`, `target_b`)
);
--> statement-breakpoint
CREATE INDEX `pair_outcomes_status_idx` ON `pair_outcomes` (`status`,`updated_at`);--> statement-breakpoint
CREATE TABLE `preferences` (
	`example_id` text NOT NULL,
	`target_a` text NOT NULL,
	`target_b` text NOT NULL,
	`a_wins` real NOT NULL,
	`games` integer NOT NULL,
	PRIMARY KEY(`example_id`, `target_a`, `target_b`),
	FOREIGN KEY (`example_id`) REFERENCES `examples`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`target_a`) REFERENCES `targets`(`name`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`target_b`) REFERENCES `targets`(`name`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "preferences_wins_range" CHECK("preferences"."a_wins" >= 0 AND "preferences"."a_wins" <= "preferences"."games")
);
--> statement-breakpoint
ALTER TABLE `outcomes` ADD `status` text DEFAULT 'accepted' NOT NULL;--> statement-breakpoint
CREATE INDEX `outcomes_status_idx` ON `outcomes` (`status`,`updated_at`);--> statement-breakpoint
ALTER TABLE `rankings` ADD `category` text;--> statement-breakpoint
ALTER TABLE `rankings` ADD `propensity` real;--> statement-breakpoint
ALTER TABLE `rankings` ADD `explored` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `rankings` ADD `uncertainty` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `rankings` ADD `reasons` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
CREATE INDEX `rankings_uncertainty_idx` ON `rankings` (`uncertainty`);--> statement-breakpoint
ALTER TABLE `targets` ADD `prior_score` real;