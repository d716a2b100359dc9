CREATE TABLE `pending_deletes` (
	`example_id` text PRIMARY KEY NOT NULL,
	`deleted_at` integer NOT NULL
);
