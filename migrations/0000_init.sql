CREATE TABLE `embeddings` (
	`example_id` text PRIMARY KEY NOT NULL,
	`embedder_id` text NOT NULL,
	`vector` blob NOT NULL,
	FOREIGN KEY (`example_id`) REFERENCES `examples`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `embeddings_embedder_idx` ON `embeddings` (`embedder_id`);--> statement-breakpoint
CREATE TABLE `examples` (
	`id` text PRIMARY KEY NOT NULL,
	`text` text NOT NULL,
	`category` text,
	`indexed` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `examples_category_idx` ON `examples` (`category`,`id`);--> statement-breakpoint
CREATE INDEX `examples_unindexed_idx` ON `examples` (`indexed`) WHERE "examples"."indexed" = 0;--> statement-breakpoint
CREATE TABLE `scores` (
	`example_id` text NOT NULL,
	`target` text NOT NULL,
	`score` real NOT NULL,
	PRIMARY KEY(`example_id`, `target`),
	FOREIGN KEY (`example_id`) REFERENCES `examples`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`target`) REFERENCES `targets`(`name`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "scores_score_range" CHECK("scores"."score" >= 0 AND "scores"."score" <= 1)
);
--> statement-breakpoint
CREATE INDEX `scores_example_cover_idx` ON `scores` (`example_id`,`target`,`score`);--> statement-breakpoint
CREATE INDEX `scores_target_idx` ON `scores` (`target`);--> statement-breakpoint
CREATE TABLE `targets` (
	`name` text PRIMARY KEY NOT NULL,
	`input_price_per_mtok` real,
	`output_price_per_mtok` real,
	`enabled` integer DEFAULT true NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
