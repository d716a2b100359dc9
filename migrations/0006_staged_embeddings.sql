CREATE TABLE `staged_embeddings` (
	`example_id` text PRIMARY KEY NOT NULL,
	`embedder_id` text NOT NULL,
	`version` integer NOT NULL,
	`vector` blob NOT NULL,
	FOREIGN KEY (`example_id`) REFERENCES `examples`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `staged_current_idx` ON `staged_embeddings` (`example_id`,`embedder_id`,`version`);--> statement-breakpoint
CREATE INDEX `examples_version_idx` ON `examples` (`id`,`updated_at`);