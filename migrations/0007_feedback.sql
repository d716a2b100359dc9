CREATE TABLE `outcomes` (
	`ranking_id` text NOT NULL,
	`target` text NOT NULL,
	`score` real NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`ranking_id`, `target`)
);
--> statement-breakpoint
CREATE TABLE `rankings` (
	`id` text PRIMARY KEY NOT NULL,
	`created_at` integer NOT NULL,
	`query` text NOT NULL,
	`targets` text NOT NULL,
	`recommended` text
);
--> statement-breakpoint
CREATE INDEX `rankings_created_idx` ON `rankings` (`created_at`);