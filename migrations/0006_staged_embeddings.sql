CREATE TABLE `staged_embeddings` (
	`example_id` text PRIMARY KEY NOT NULL,
	`embedder_id` text NOT NULL,
	`version` integer NOT NULL,
	`vector` blob NOT NULL,
	FOREIGN KEY (`example_id`) REFERENCES `examples`(`id`) ON UPDATE no action ON DELETE cascade
);
