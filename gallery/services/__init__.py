"""Writes of the console domain, one module per topic; views and tasks stay thin and call these.

Image rows move through `pending → indexing → indexed | failed`, and `deleting → deleted`
(a tombstone). A row never claims more than the backend holds: `indexed` is set only once the
backend has answered the add, and an edit waits in `pending_update` until the backend has
accepted it. Every remote call happens in a task, outside any transaction. Each Celery task
lives beside the service it runs (`sync.image_add_task` runs `sync.images_add_run`).
"""
