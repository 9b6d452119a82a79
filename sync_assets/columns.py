"""Column names the sync itself reads or writes beside the user's columns."""

# Change streams (Change Tracking, CDF) flag deleted source rows in this boolean column; it is
# never written to the target.
DELETED_FLAG = "__sync_deleted"
# With soft deletes, the target column that marks a row deleted at the source.
SOFT_DELETE_COLUMN = "_is_deleted"
# With soft deletes, when the sync saw the row deleted (the target engine's clock; NULL while live).
DELETED_AT_COLUMN = "_deleted_at"
