"""Portrait online: the serving API over the published warehouse, and its event worker."""
